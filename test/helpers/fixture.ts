import { afterEach, expect } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/** Shared by the integration tests: real temp dirs, real bare remotes, the real CLI as a process. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'gitfailover.js');

export function tempDir(prefix = 'gf-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cli(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: { ...process.env, ...opts.env },
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as NodeJS.ErrnoException).code === 'number'
            ? Number((err as NodeJS.ErrnoException).code)
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Start the CLI as a long-running process; resolves once a stdout line matches `ready`. */
export function startCli(
  args: string[],
  ready: RegExp,
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`process did not print ${ready} within 20s:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`process exited with ${code} before ready:\n${out}`));
    });
  });
}

export function git(args: string[], cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      {
        cwd,
        env: {
          ...process.env,
          GIT_AUTHOR_NAME: 't',
          GIT_AUTHOR_EMAIL: 't@t',
          GIT_COMMITTER_NAME: 't',
          GIT_COMMITTER_EMAIL: 't@t',
        },
      },
      (err, stdout, stderr) => (err ? reject(new Error(`git ${args.join(' ')}: ${stderr}`)) : resolve(stdout)),
    );
  });
}

export function writeFile(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

export interface DomainSpec {
  services?: { name: string; protocol: string; ip: string; port: number }[];
  users?: string[];
}

/** A domain of the default layout in `liveDir`. */
export function writeDomain(liveDir: string, name: string, spec: DomainSpec = {}): void {
  const d = join(liveDir, 'domains', name);
  writeFile(join(d, 'domain.yaml'), stringify({ name, enabled: true }));
  writeFile(join(d, 'services.yaml'), stringify({ services: spec.services ?? [] }));
  for (const u of spec.users ?? []) writeUser(liveDir, name, u);
}

export function writeUser(liveDir: string, domain: string, user: string, extra: Record<string, unknown> = {}): void {
  writeFile(
    join(liveDir, 'domains', domain, 'users', `${user}.yaml`),
    stringify({ name: user, passwordHash: '$2b$10$abcdefghijklmnopqrstuv', home: `/data/${user}`, ...extra }),
  );
}

/** A bare remote, a primary and a standby node file sharing it, each with its own live dir and state dir. */
export interface Pair {
  dir: string;
  remote: string;
  prodLive: string;
  failLive: string;
  primary: string;
  standby: string;
}

export function makePair(
  opts: { primary?: Record<string, unknown>; standby?: Record<string, unknown>; initRemote?: boolean } = {},
): Pair {
  const dir = tempDir();
  const remote = join(dir, 'remote.git');
  const prodLive = join(dir, 'prod');
  const failLive = join(dir, 'fail');
  mkdirSync(prodLive, { recursive: true });
  mkdirSync(failLive, { recursive: true });
  const primary = join(dir, 'primary.yaml');
  const standby = join(dir, 'standby.yaml');
  writeFile(
    primary,
    stringify({
      node: 'prod-1',
      role: 'primary',
      repo: { remote, stateDir: join(dir, 'prod-state') },
      live: { dir: prodLive },
      record: { debounce: '100ms' },
      ...opts.primary,
    }),
  );
  writeFile(
    standby,
    stringify({
      node: 'failover-1',
      role: 'standby',
      repo: { remote, stateDir: join(dir, 'fail-state') },
      live: { dir: failLive },
      substitution: { ips: { '10.0.0.5': '10.1.0.5', '2001:db8::5': '2001:db8:1::5' } },
      ...opts.standby,
    }),
  );
  return { dir, remote, prodLive, failLive, primary, standby };
}

export async function initRemote(p: Pair): Promise<void> {
  await git(['init', '-q', '--bare', '--initial-branch=main', p.remote]);
}

/** Every file under `dir` (relative, `/`-separated) -> content, skipping what `skip` matches. */
export function snapshot(dir: string, skip: (rel: string) => boolean = () => false): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const rel = relative(dir, p).split(sep).join('/');
      if (skip(rel)) continue;
      if (e.isDirectory()) walk(p);
      else out[rel] = readFileSync(p, 'utf8');
    }
  };
  walk(dir);
  return out;
}

export function inodeAndMtime(path: string): string {
  const s = statSync(path);
  return `${s.ino}:${s.mtimeMs}`;
}

/**
 * Pairs (each with an initialised bare remote) that are removed after every test of the file
 * that calls this at its top level.
 */
export function usePairs(): (opts?: Parameters<typeof makePair>[0]) => Promise<Pair> {
  const pairs: Pair[] = [];
  afterEach(() => {
    for (const p of pairs.splice(0)) removeDir(p.dir);
  });
  return async (opts = {}) => {
    const p = makePair(opts);
    pairs.push(p);
    await initRemote(p);
    return p;
  };
}

/** Run the CLI and require exit 0, with its output in the failure message. */
export async function cliOk(args: string[]): Promise<CliResult> {
  const r = await cli(args);
  expect(r.code, `gitfailover ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r;
}

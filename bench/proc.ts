import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { generateRepo } from './gen-repo.js';

/** Process helpers for the bench: every external step is a real process, timed from outside. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'gitfailover.js');
/** Where bench/tsconfig.json compiles the bench (and the sources it imports) to; never packed. */
export const DIST_BENCH = join(ROOT, 'dist-bench', 'bench');

export interface Ran {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to its end; `ms` is wall time from spawn to exit (start-up included). */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...benchGitEnv, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ ms: performance.now() - t0, code: code ?? 1, stdout, stderr }));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
  });
}

export async function mustRun(cmd: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<Ran> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
  return r;
}

/** A fixed identity, so the raw-git baselines never stop to ask for one. */
export const benchGitEnv: NodeJS.ProcessEnv = {
  GIT_AUTHOR_NAME: 'bench',
  GIT_AUTHOR_EMAIL: 'bench@example.com',
  GIT_COMMITTER_NAME: 'bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com',
  GIT_CONFIG_NOSYSTEM: '1',
};

/** Run a bench child script that prints one JSON line last. */
export async function runJson<T>(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<T & { wallMs: number }> {
  const r = await mustRun(process.execPath, [join(DIST_BENCH, script), ...args], { env });
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return { ...(JSON.parse(last) as T), wallMs: r.ms };
}

/** A long-running CLI process; resolves when a line of its output matches `ready`. */
export function startDaemon(
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, ...benchGitEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`daemon ${args.join(' ')} not ready in 120s:\n${out.slice(-3000)}`)),
      120_000,
    );
    const onData = (d: Buffer) => {
      // Keep only the tail: a daemon logs every sync, and 400 syncs of output need not stay in memory.
      out = (out + d.toString()).slice(-20_000);
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon ${args.join(' ')} exited ${code}:\n${out.slice(-3000)}`));
    });
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every `everyMs` until true; returns when it became true (performance.now()). */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 2,
): Promise<number> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() > until) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** A bench node file at `file` (`bench-primary` or `bench-standby`, overridable in `extra`); returns `file`. */
function benchNode(
  role: 'primary' | 'standby',
  file: string,
  at: { remote: string; live: string; stateDir: string },
  extra: Record<string, unknown>,
): string {
  writeFileSync(
    file,
    stringify({
      node: `bench-${role}`,
      role,
      repo: { remote: at.remote, branch: 'main', stateDir: at.stateDir },
      live: { dir: at.live },
      ...extra,
    }),
  );
  return file;
}

/** Writes a node file of `role` at `file` (its live dir created); returns `file`. */
function nodeWriter(role: 'primary' | 'standby', defaults: Record<string, unknown> = {}) {
  return (
    file: string,
    remote: string,
    live: string,
    stateDir: string,
    extra: Record<string, unknown> = {},
  ): string => {
    mkdirSync(live, { recursive: true });
    return benchNode(role, file, { remote, live, stateDir }, { ...defaults, ...extra });
  };
}

export const benchPrimary = nodeWriter('primary');
/** A standby substituting the generated repos' production IP. */
export const benchStandby = nodeWriter('standby', { substitution: { ips: { '10.0.0.5': '10.1.0.5' } } });

/** `dir/standby.yaml` with live dir `dir/live` and state dir `dir/state`. */
export function standbyFile(dir: string, remote: string, extra: Record<string, unknown> = {}): string {
  return benchStandby(join(dir, 'standby.yaml'), remote, join(dir, 'live'), join(dir, 'state'), extra);
}

/**
 * A generated repo of `n` domains at `dir/remote.git`, cloned to `dir/<work>`, and production's
 * live dir `dir/prod` holding the same configuration (the primary's first record changes nothing).
 * `from`: a repo of `n` domains another section generated, copied (bare) instead of generating again.
 */
export async function repoWithLive(
  dir: string,
  n: number,
  work = 'clone',
  from?: string,
): Promise<{ remote: string; prodLive: string; work: string }> {
  mkdirSync(dir, { recursive: true });
  const remote = join(dir, 'remote.git');
  if (from) await mustRun('git', ['clone', '-q', '--bare', from, remote]);
  else await generateRepo(remote, n);
  const prodLive = join(dir, 'prod');
  const clone = join(dir, work);
  await mustRun('git', ['clone', '-q', remote, clone]);
  await mustRun('sh', ['-c', `mkdir -p ${prodLive} && cp -r ${clone}/domains ${clone}/server.yaml ${prodLive}/`]);
  return { remote, prodLive, work: clone };
}

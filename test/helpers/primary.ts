import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

/**
 * Test helpers for the primary side: a temp dir with a bare remote, a live dir and a node file,
 * and the CLI run as a real process (`node bin/gitfailover.js`, built into dist/ by `npm test`).
 */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(ROOT, 'bin/gitfailover.js');

export interface PrimaryFixture {
  dir: string;
  remote: string;
  live: string;
  state: string;
  nodeFile: string;
  /** (Re)write the node file; `extra` is merged over the defaults at the top level. */
  writeNode(extra?: Record<string, unknown>): void;
  /** Write a file under the live dir (folders created). */
  write(rel: string, text: string): void;
  remove(rel: string): void;
  cleanup(): void;
}

export function makeFixture(extra: Record<string, unknown> = {}): PrimaryFixture {
  const dir = mkdtempSync(join(tmpdir(), 'gitfailover-primary-'));
  const remote = join(dir, 'remote.git');
  const live = join(dir, 'live');
  const state = join(dir, 'state');
  const nodeFile = join(dir, 'node.yaml');
  execFileSync('git', ['init', '--quiet', '--bare', '--initial-branch=main', remote]);
  mkdirSync(live, { recursive: true });
  const fx: PrimaryFixture = {
    dir,
    remote,
    live,
    state,
    nodeFile,
    writeNode(more = {}) {
      const doc = {
        node: 'prod-1',
        role: 'primary',
        repo: { remote, branch: 'main', stateDir: state },
        live: { dir: live, exclude: ['data/**', '**/*.log'] },
        record: { debounce: '300ms', retry: '100ms', retryMax: '500ms' },
        ...extra,
        ...more,
      };
      writeFileSync(nodeFile, stringify(doc));
    },
    write(rel, text) {
      const p = join(live, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, text);
    },
    remove(rel) {
      rmSync(join(live, rel), { force: true });
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  fx.writeNode();
  fx.write('domains/acme/domain.yaml', 'name: acme\nenabled: true\n');
  fx.write(
    'domains/acme/services.yaml',
    'services:\n  - { name: sftp-main, protocol: sftp, ip: 10.0.0.5, port: 22 }\n',
  );
  return fx;
}

export const userYaml = (name: string, home = `/home/${name}`) =>
  `name: ${name}\nhome: ${home}\npermissions: [read, write]\n`;

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a real process; never throws on a non-zero exit. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? -1, stdout, stderr }));
  });
}

/** `git` against a repo dir (bare or not); returns trimmed stdout. */
export function gitIn(gitDir: string, args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, LC_ALL: 'C' },
  }).trim();
}

/** The remote's history on main, oldest first (empty when nothing was pushed). */
export function remoteSubjects(remote: string, branch = 'main'): string[] {
  try {
    const out = gitIn(remote, ['log', '--reverse', '--format=%s', branch]);
    return out ? out.split('\n') : [];
  } catch {
    return [];
  }
}

export function remoteHead(remote: string, branch = 'main'): string | undefined {
  try {
    return gitIn(remote, ['rev-parse', '--verify', '--quiet', branch]);
  } catch {
    return undefined;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The primary daemon as a real child process, with its output lines kept for assertions. */
export class DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly errLines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: { re: RegExp; from: number; fromErr: number; resolve: (line: string) => void }[] = [];

  constructor(args: string[], env: NodeJS.ProcessEnv = {}) {
    this.child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const feed = (sink: string[]) => {
      let buf = '';
      return (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          sink.push(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          this.check();
        }
      };
    };
    this.child.stdout!.on('data', feed(this.lines));
    this.child.stderr!.on('data', feed(this.errLines));
    this.exited = new Promise((r) => this.child.on('exit', (code, signal) => r({ code, signal })));
  }

  private all(): string[] {
    return [...this.lines, ...this.errLines];
  }

  private check(): void {
    for (const w of [...this.waiters]) {
      const hit =
        this.lines.slice(w.from).find((l) => w.re.test(l)) ?? this.errLines.slice(w.fromErr).find((l) => w.re.test(l));
      if (hit) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(hit);
      }
    }
  }

  /** Number of stdout lines matching `re` so far. */
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l)).length;
  }

  /** Where the output is now: pass to waitFor to see only lines written after this point. */
  mark(): { from: number; fromErr: number } {
    return { from: this.lines.length, fromErr: this.errLines.length };
  }

  /** Wait for a line on stdout or stderr matching `re` (only after `since`, when given). */
  waitFor(re: RegExp, timeoutMs = 15_000, since = { from: 0, fromErr: 0 }): Promise<string> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`no line matching ${re} within ${timeoutMs}ms; output:\n${this.all().join('\n')}`));
      }, timeoutMs);
      const w = {
        re,
        ...since,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolvePromise(line);
        },
      };
      this.waiters.push(w);
      this.check();
    });
  }

  /** Wait until `n` stdout lines match `re`. */
  async waitForCount(re: RegExp, n: number, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(re) < n) {
      if (Date.now() > deadline)
        throw new Error(`expected ${n} lines matching ${re}, saw ${this.count(re)}; output:\n${this.all().join('\n')}`);
      await sleep(25);
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export function startDaemon(nodeFile: string, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  return new DaemonProcess(['primary', '-c', nodeFile], env);
}

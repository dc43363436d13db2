import { type ChildProcess, spawn } from 'node:child_process';
import { childEnv, type ChildKind } from './child-env.js';

/**
 * The one runner of child processes: git (repo/git.ts), the node's own commands (`commands.*`)
 * and exec triggers. An argv list (never a shell), the environment of its kind (child-env.ts,
 * where the rules of what a child may see live), a timeout, SIGTERM then SIGKILL after
 * `graceMs`. It never throws: the caller turns the outcome into its own error sentence. (The
 * kept-open `git cat-file --batch-command` of repo/blob-reader.ts is a long-lived pipe, not a run.)
 */
export interface ProcessOutcome {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The tail of the output (`tailBytes`), or all of it with `output: 'all'`. */
  stdout: string;
  stderr: string;
  /** With `output: 'all'`: stdout's bytes as they came (git's binary output). */
  stdoutBuf?: Buffer;
  /** Set when the runner stopped it: why (a timeout, or the caller's abort). */
  killedFor?: string;
  /** Set when it could not start (ENOENT, EACCES ...). */
  startError?: Error;
}

export interface ProcessOptions {
  kind: ChildKind;
  /** Added to the environment of its kind. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is closed after it; stdin is /dev/null without it. */
  input?: string | Buffer;
  /** No timeout when undefined. */
  timeoutMs?: number;
  /** SIGTERM first, SIGKILL this much later; SIGKILL at once when undefined. */
  graceMs?: number;
  signal?: AbortSignal;
  /** Keep only the last bytes of each stream (commands and triggers print logs); default 8192. */
  tailBytes?: number;
  /** 'all': keep every byte (git's output is the answer). */
  output?: 'tail' | 'all';
  /** Its own process group (default), so a kill reaches what it started too; git is killed alone. */
  group?: boolean;
}

export function runProcess(argv: readonly string[], opts: ProcessOptions): Promise<ProcessOutcome> {
  const group = opts.group ?? true;
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: childEnv(opts.kind, opts.env),
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      detached: group,
      shell: false,
    });
    const out = collect(child.stdout!, opts);
    const err = collect(child.stderr!, opts);
    let killedFor: string | undefined;
    let grace: NodeJS.Timeout | undefined;
    const kill = (why: string) => {
      if (killedFor || child.exitCode !== null) return;
      killedFor = why;
      if (opts.graceMs === undefined) return signal(child, group, 'SIGKILL');
      signal(child, group, 'SIGTERM');
      grace = setTimeout(() => signal(child, group, 'SIGKILL'), opts.graceMs);
      grace.unref();
    };
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => kill(`timed out after ${opts.timeoutMs}ms`), opts.timeoutMs)
        : undefined;
    const onAbort = () => kill('cancelled at shutdown');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      if (timer) clearTimeout(timer);
      if (grace) clearTimeout(grace);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.on('error', (e) => {
      done();
      resolve({ code: null, signal: null, stdout: out.text(), stderr: err.text(), startError: e });
    });
    child.on('close', (code, sig) => {
      done();
      const stdoutBuf = opts.output === 'all' ? out.bytes() : undefined;
      const text = { stdout: stdoutBuf?.toString('utf8') ?? out.text(), stderr: err.text() };
      resolve({ code, signal: sig, ...text, ...(stdoutBuf ? { stdoutBuf } : {}), ...(killedFor ? { killedFor } : {}) });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // the child may exit before reading all its input
      child.stdin.end(opts.input);
    }
  });
}

function signal(child: ChildProcess, group: boolean, sig: NodeJS.Signals): void {
  try {
    if (group)
      process.kill(-child.pid!, sig); // the whole group: a hung script's children too
    else child.kill(sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      // already gone
    }
  }
}

/** A stream's output: every chunk (output 'all'), or only its tail. */
function collect(stream: NodeJS.ReadableStream, opts: ProcessOptions): { text: () => string; bytes: () => Buffer } {
  const tail = opts.tailBytes ?? 8192;
  const chunks: Buffer[] = [];
  let text = '';
  stream.on('data', (d: Buffer) => {
    if (opts.output === 'all') chunks.push(d);
    else text = (text + d.toString('utf8')).slice(-tail);
  });
  return {
    text: () => (opts.output === 'all' ? Buffer.concat(chunks).toString('utf8') : text),
    bytes: () => Buffer.concat(chunks),
  };
}

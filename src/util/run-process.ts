import { spawn } from 'node:child_process';
import { childEnv, type ChildKind } from './child-env.js';

/**
 * The one runner for the node's own commands (`commands.*`) and exec triggers: an argv list
 * (never a shell), the environment of its kind (child-env.ts), its own process group so a timeout
 * kills what it started too, SIGTERM then SIGKILL after `graceMs`, and the tail of its output.
 * It never throws: the caller turns the outcome into its own error sentence. (git has its own
 * spawn in repo/git.ts for stdin and binary output, with the same environment policy.)
 */
export interface ProcessOutcome {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the runner stopped it: why (a timeout, or the caller's abort). */
  killedFor?: string;
  /** Set when it could not start (ENOENT, EACCES ...). */
  startError?: Error;
}

export function runProcess(
  argv: readonly string[],
  opts: {
    kind: ChildKind;
    env?: NodeJS.ProcessEnv;
    timeoutMs: number;
    graceMs?: number;
    signal?: AbortSignal;
    tailBytes?: number;
  },
): Promise<ProcessOutcome> {
  const tail = opts.tailBytes ?? 8192;
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: childEnv(opts.kind, opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      shell: false,
    });
    let stdout = '';
    let stderr = '';
    let killedFor: string | undefined;
    let grace: NodeJS.Timeout | undefined;
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig); // the whole group: a hung script's children too
      } catch {
        try {
          child.kill(sig);
        } catch {
          // already gone
        }
      }
    };
    const kill = (why: string) => {
      if (killedFor || child.exitCode !== null) return;
      killedFor = why;
      if (opts.graceMs === undefined) return group('SIGKILL');
      group('SIGTERM');
      grace = setTimeout(() => group('SIGKILL'), opts.graceMs);
      grace.unref();
    };
    const timer = setTimeout(() => kill(`timed out after ${opts.timeoutMs}ms`), opts.timeoutMs);
    const onAbort = () => kill('cancelled at shutdown');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => {
      clearTimeout(timer);
      if (grace) clearTimeout(grace);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString('utf8')).slice(-tail)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-tail)));
    child.on('error', (e) => {
      done();
      resolve({ code: null, signal: null, stdout, stderr, startError: e });
    });
    child.on('close', (code, signal) => {
      done();
      resolve({ code, signal, stdout, stderr, ...(killedFor ? { killedFor } : {}) });
    });
  });
}

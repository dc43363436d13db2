import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { GitfailoverError } from '../errors.js';
import { GitError, gitEnv, holdChild } from './git.js';

const ZERO = '0'.repeat(40);

type Waiting = { verb: string; resolve: () => void; reject: (e: Error) => void };

/**
 * A `git update-ref --stdin` kept open: each ref update is one transaction (`start`, `update
 * <ref> <new> <old>`, `prepare`, `commit`) on a pipe instead of a process. The old value is
 * checked under git's ref lock as `git update-ref <ref> <new> <old>` checks it; a failed
 * transaction ends the process (git exits), its error goes to that update's caller, and the next
 * update starts a new one.
 */
export class RefUpdater {
  private child: ChildProcessWithoutNullStreams | undefined;
  /** Lines awaited, in order: each resolves on `<verb>: ok`. */
  private waiting: Waiting[] = [];
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly gitDir: string) {}

  /** Move `ref` to `value`; `old`: the value it must have now ('' = must not exist; undefined = any). */
  update(ref: string, value: string, old?: string): Promise<void> {
    if (/[\s\0]/.test(ref + value + (old ?? '')))
      return Promise.reject(new GitfailoverError('E_BAD_REV', `invalid ref update ${JSON.stringify(ref)}`));
    const line = `update ${ref} ${value}${old !== undefined ? ` ${old || ZERO}` : ''}`;
    const run = this.chain.then(() => this.transaction(line, ref));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private transaction(update: string, ref: string): Promise<void> {
    const child = this.start();
    this.hold(true);
    const verbs = ['start', 'prepare', 'commit'];
    const answers = verbs.map(
      (verb) => new Promise<void>((resolve, reject) => this.waiting.push({ verb, resolve, reject })),
    );
    child.stdin.write(`start\n${update}\nprepare\ncommit\n`);
    return Promise.all(answers).then(
      () => {
        this.hold(false);
      },
      (e: Error) => {
        this.hold(false);
        throw e instanceof GitfailoverError ? e : new GitError(['update-ref', ref], { code: 128, stderr: e.message });
      },
    );
  }

  private start(): ChildProcessWithoutNullStreams {
    if (this.child) return this.child;
    const child = spawn('git', ['--git-dir', this.gitDir, 'update-ref', '--stdin'], {
      env: gitEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // Each process has its own queue and output: a killed one's late exit fails only its own updates.
    const waiting: Waiting[] = (this.waiting = []);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const w = waiting[0];
        if (w && line === `${w.verb}: ok`) {
          waiting.shift();
          w.resolve();
        }
      }
    });
    child.stderr.on('data', (d: string) => {
      err += d;
    });
    const fail = (e: Error) => {
      if (this.child === child) this.child = undefined;
      for (const w of waiting.splice(0)) w.reject(e);
    };
    child.on('error', (e) => fail(new GitfailoverError('E_GIT_MISSING', `cannot run git update-ref: ${e.message}`)));
    child.on('close', (code) =>
      fail(new GitError(['update-ref', '--stdin'], { code, stderr: err || 'git update-ref --stdin exited' })),
    );
    child.stdin.on('error', () => {});
    this.child = child;
    this.hold(false);
    return child;
  }

  /** Node's event loop held only while a caller waits (holdChild). */
  private hold(on: boolean): void {
    holdChild(this.child, on);
  }

  close(): void {
    const c = this.child;
    this.child = undefined;
    if (c) {
      c.stdin.end();
      c.kill();
    }
  }
}

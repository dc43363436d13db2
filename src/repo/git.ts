import type { ChildProcess } from 'node:child_process';
import { GitfailoverError } from '../errors.js';
import { childEnv } from '../util/child-env.js';
import { runProcess } from '../util/run-process.js';
import { redact } from '../util/redact.js';

/**
 * The only place that starts git. Arguments are always an argv list (no shell), and anything
 * that looks like a credential in a URL is stripped before it reaches a message or a log.
 */
export interface GitOptions {
  /** --git-dir */
  gitDir?: string;
  /** --work-tree */
  workTree?: string;
  cwd?: string;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Exit codes that are answers, not failures (e.g. 1 for `merge-base --is-ancestor`). */
  okCodes?: number[];
}

export interface GitResult {
  stdout: string;
  stdoutBuf: Buffer;
  stderr: string;
  code: number;
}

export class GitError extends GitfailoverError {
  constructor(
    args: string[],
    result: { code: number | null; stderr: string; stdout?: string },
    kind: 'waiting' | 'stalling' | 'generic' = 'generic',
  ) {
    const cmd = redact(`git ${args.join(' ')}`);
    const detail =
      redact(result.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ')) || `exit code ${result.code}`;
    super('E_GIT', `${cmd} failed: ${detail}`, {
      kind,
      data: {
        args: args.map(redact),
        exitCode: result.code,
        stderr: redact(result.stderr),
        stdout: redact(result.stdout ?? ''),
      },
    });
  }
  get stderr(): string {
    return String(this.data.stderr ?? '');
  }
  /** Some answers come on stdout (push --porcelain prints `!` lines for rejected refs there). */
  get stdout(): string {
    return String(this.data.stdout ?? '');
  }
}

/** What makes git behave the same everywhere: no prompts, no user config surprises, C locale. */
function gitSettings(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    GIT_TERMINAL_PROMPT: '0',
    GIT_CONFIG_NOSYSTEM: '1',
    LC_ALL: 'C',
    GIT_AUTHOR_NAME: process.env.GIT_AUTHOR_NAME ?? 'gitfailover',
    GIT_AUTHOR_EMAIL: process.env.GIT_AUTHOR_EMAIL ?? 'gitfailover@localhost',
    GIT_COMMITTER_NAME: process.env.GIT_COMMITTER_NAME ?? 'gitfailover',
    GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? 'gitfailover@localhost',
    // A user's log.showSignature=true put gpg output into every parsed `git log` (and git's
    // "gpg.ssh.allowedSignersFile needs to be configured" on stderr): signatures are checked in signatures.ts only.
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'log.showSignature',
    GIT_CONFIG_VALUE_0: 'false',
    ...extra,
  };
}

/** The whole environment of a git process (child-env.ts's `git` kind plus gitSettings). */
export function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return childEnv('git', gitSettings(extra));
}

export async function git(args: string[], opts: GitOptions = {}): Promise<GitResult> {
  const full = [
    ...(opts.gitDir ? ['--git-dir', opts.gitDir] : []),
    ...(opts.workTree ? ['--work-tree', opts.workTree] : []),
    ...args,
  ];
  const r = await runProcess(['git', ...full], {
    kind: 'git',
    env: gitSettings(opts.env),
    cwd: opts.cwd,
    input: opts.input ?? '',
    timeoutMs: opts.timeoutMs || undefined,
    output: 'all',
    group: false,
  });
  if (r.startError) {
    throw new GitfailoverError(
      'E_GIT_MISSING',
      `cannot run git: ${r.startError.message} (is git installed and on PATH?)`,
      {
        kind: 'stalling',
      },
    );
  }
  if (r.killedFor) throw new GitError(full, { code: r.code, stderr: `timed out after ${opts.timeoutMs}ms` }, 'waiting');
  const result = { stdout: r.stdout, stdoutBuf: r.stdoutBuf!, stderr: r.stderr, code: r.code ?? -1 };
  if (r.code === 0 || opts.okCodes?.includes(r.code ?? -1)) return result;
  throw new GitError(full, result);
}

/** The empty tree's id: the "before" of a repo's first commit. */
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

/**
 * A kept-open git child keeps Node's event loop alive only while a caller waits for it (`on`):
 * a command that never closes it still exits, and git then sees EOF.
 */
export function holdChild(child: ChildProcess | undefined, on: boolean): void {
  if (!child) return;
  for (const h of [child, child.stdin, child.stdout, child.stderr] as ({
    ref?: () => void;
    unref?: () => void;
  } | null)[])
    on ? h?.ref?.() : h?.unref?.();
}

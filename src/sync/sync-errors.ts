import { GitfailoverError, errorMessage } from '../errors.js';

/** `EIO (i/o error) at <path>` for a Node file-system error, its message otherwise. */
export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!e || typeof e.code !== 'string' || !/^E[A-Z]+$/.test(e.code)) return errorMessage(err);
  const what = (e.message ?? '').replace(/^[A-Z]+: /, '').split(',')[0];
  return `${e.code} (${what})${e.path ? ` at ${e.path}${e.dest ? ` -> ${e.dest}` : ''}` : ''}`;
}

/** Any other error of a sync as one sentence naming the commit and whether the live dir changed. */
export function fsErrorSentence(err: unknown, target: string | undefined, liveTouched: boolean): GitfailoverError {
  const commit = target ? ` to commit ${target.slice(0, 12)}` : '';
  return new GitfailoverError(
    'E_SYNC',
    `the sync${commit} failed: ${errnoText(err)}${liveTouched ? '' : '; the live dir was not changed'}. Fix the cause (permissions, a full disk, a file where a folder belongs), then sync again`,
    { cause: err, location: target ? { commit: target } : {} },
  );
}

/** A raw file-system error of the apply as a sentence naming the commit, the file and the outcome. */
export function applyError(err: unknown, target: string, applied: string | undefined): unknown {
  if (err instanceof GitfailoverError) return err;
  const back = applied
    ? `the live dir was put back as commit ${applied.slice(0, 12)} had it`
    : 'what it had written was removed';
  return new GitfailoverError(
    'E_APPLY',
    `applying commit ${target.slice(0, 12)} failed: ${errnoText(err)}; ${back}. Fix the cause (a file where the repo has a folder, a full disk, permissions), then sync again`,
    { kind: 'stalling', location: { commit: target }, cause: err },
  );
}

/** The original failure, with a sentence saying the rollback did not finish and what happens next. */
export function withRollbackFailure(err: unknown, rbErr: unknown, target?: string): GitfailoverError {
  const e = err instanceof GitfailoverError ? err : fsErrorSentence(err, target, true);
  return new GitfailoverError(
    e.code,
    `${e.message}; putting the live dir back as the applied commit had it did not finish either (${errnoText(rbErr)}): the apply journal is kept and the next sync brings the live dir in line with its target`,
    { kind: e.kind, location: e.location, data: { ...e.data, rollbackError: errorMessage(rbErr) }, cause: err },
  );
}

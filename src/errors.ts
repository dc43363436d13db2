/**
 * Every refusal gitfailover makes is a GitfailoverError: a stable `code` that tests and tools
 * match on, the `data` that explains it, and how the caller should react (Flux's split):
 *  - `stalling`: a person must act (bad config, rewritten history); alert, do not retry
 *  - `waiting`:  transient (remote down, lock busy); retry with backoff
 *  - `generic`:  anything else
 */
export type ErrorKind = 'stalling' | 'waiting' | 'generic';

export interface Location {
  file?: string;
  line?: number;
  col?: number;
  field?: string;
  commit?: string;
}

export class GitfailoverError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly data: Record<string, unknown>;
  readonly location: Location;

  constructor(
    code: string,
    message: string,
    opts: { kind?: ErrorKind; data?: Record<string, unknown>; location?: Location; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'GitfailoverError';
    this.code = code;
    this.kind = opts.kind ?? 'generic';
    this.data = opts.data ?? {};
    this.location = opts.location ?? {};
  }
}

/** A node file or command-line problem: exit code 2. */
export class ConfigError extends GitfailoverError {
  constructor(message: string, location: Location = {}, data: Record<string, unknown> = {}) {
    super('E_CONFIG', message, { kind: 'stalling', location, data });
    this.name = 'ConfigError';
  }
}

/** "file:line:col" (the parts that are known) for messages. */
export function formatLocation(loc: Location): string {
  let s = loc.file ?? '';
  if (loc.line !== undefined) s += `:${loc.line}`;
  if (loc.line !== undefined && loc.col !== undefined) s += `:${loc.col}`;
  return s;
}

/**
 * What a failure means for the one who sees it, by error code (one registry, code -> class -> exit):
 *  - `content`:   the repo's content was refused (a refused commit, a failed load or check): alert;
 *                 the only class that disables automatic sync (sync.disableOnFailure)
 *  - `transient`: the remote, the network, a busy lock: retry with backoff, automatic sync stays on
 *  - `setup`:     the node's own set-up (credentials, host key, git missing): alert and retry, automatic stays on
 *  - `usage`:     the command line or node file is wrong: exit 2, no event
 *  - `refused`:   an operation refused in this node's present state (role, readiness): exit 1, no event of its own
 */
export type ErrorClass = 'content' | 'transient' | 'setup' | 'usage' | 'refused';

/** Exit codes (DESIGN.md): 0 success, 1 operation failed or refused, 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** `status`: the node reports a problem a person must look at (README "Exit codes"). */
export const EXIT_SPLIT_BRAIN = 3;
export const EXIT_LAST_SYNC_FAILED = 4;
export const EXIT_QUARANTINED = 5;

const CLASS_OF: Record<string, ErrorClass> = {
  E_REMOTE: 'transient',
  E_LOCKED: 'transient',
  E_PUSH: 'transient',
  E_REMOTE_AUTH: 'setup',
  E_REMOTE_HOST_KEY: 'setup',
  E_REMOTE_KEY: 'setup',
  E_GIT_MISSING: 'setup',
  E_LIVE_MISSING: 'setup',
  E_LISTEN: 'setup',
  E_CONFIG: 'usage',
  E_USAGE: 'usage',
  E_FULL_WHILE_AUTOMATIC: 'usage',
  E_BAD_REV: 'usage',
  E_IS_PRIMARY: 'refused',
  E_NOT_PRIMARY: 'refused',
  E_PUSH_REJECTED: 'refused',
  E_PIN_NOT_IN_HISTORY: 'refused',
  E_PROMOTE_NOT_READY: 'refused',
  E_PROMOTE_PENDING_SYNC: 'refused',
  E_PROMOTE_REMOTE: 'transient',
  E_PROMOTE_FENCED: 'refused',
  E_PROMOTE_NOTHING_APPLIED: 'refused',
};

/** Codes that are not errors of an operation but problems `status` reports, with their own exit code. */
export const STATUS_EXIT: Record<string, number> = {
  E_SPLIT_BRAIN: EXIT_SPLIT_BRAIN,
  E_LAST_SYNC_FAILED: EXIT_LAST_SYNC_FAILED,
  E_QUARANTINED: EXIT_QUARANTINED,
};

/**
 * The class of an error code. A code not in the registry (every refusal of the repo's content:
 * E_SCHEMA, E_CHECK_FAILED, E_COMMAND, E_SIGNATURE, ...) is `content`, unless the error itself
 * says it is worth waiting for (`kind: 'waiting'`, e.g. a git command that timed out).
 */
export function classOf(code: string | undefined, kind?: ErrorKind): ErrorClass {
  const known = code ? CLASS_OF[code] : undefined;
  if (known) return known;
  return kind === 'waiting' ? 'transient' : 'content';
}

export function classOfError(err: unknown): ErrorClass {
  return err instanceof GitfailoverError ? classOf(err.code, err.kind) : 'content';
}

/** The process exit code for a failure of this class. */
export function exitCodeOf(cls: ErrorClass): number {
  return cls === 'usage' ? EXIT_USAGE : EXIT_FAILED;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

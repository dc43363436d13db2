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

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

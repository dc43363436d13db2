/**
 * The events gitfailover reports, as plain data. A sync iteration's result *is* the `sync` event
 * (STYLE.md point 4), so the sync pipeline builds one of these and hands it to
 * TriggerDispatcher.fire(); nothing here does I/O.
 */

export const EVENT_NAMES = [
  'sync',
  'sync.disabled',
  'sync.recovered',
  'push.failed',
  'record.conflict',
  'record.failed',
  'substitution.unmapped',
  'drift',
  'lag',
  'promote',
  'demote',
  'split-brain',
  'role.lost',
] as const;

export type EventName = (typeof EVENT_NAMES)[number];

export function isEventName(name: string): name is EventName {
  return (EVENT_NAMES as readonly string[]).includes(name);
}

interface EventBase {
  event: EventName;
  /** the node that reports the event */
  node: string;
  /** ISO 8601 */
  time: string;
}

export interface EventCommit {
  id: string;
  subject: string;
  author: string;
}

/** The seed's "Failover Synchronization" event. */
export interface SyncEvent extends EventBase {
  event: 'sync';
  success: boolean;
  mode: 'partial' | 'full';
  /** the commit applied before this sync; null on a first sync */
  fromCommit: string | null;
  toCommit: string;
  commits: EventCommit[];
  /** domains loaded, changed or deleted by this sync */
  domains: string[];
  error?: string;
  /** the file at fault, when the error is about one */
  errorFile?: string;
  /** the commit at fault, when the error is about one */
  errorCommit?: string;
  /** the error's stable code (src/errors.ts), when the sync failed */
  errorCode?: string;
  /** a failed sync that is retried with backoff (remote, network, lock): automatic sync stays on */
  transient?: boolean;
  durationMs: number;
}

/** Automatic sync stopped after a failure (`sync.disableOnFailure`). */
export interface SyncDisabledEvent extends EventBase {
  event: 'sync.disabled';
  reason: string;
  error?: string;
  errorFile?: string;
  errorCommit?: string;
  /** the last good commit, still served */
  appliedCommit: string | null;
}

/** The first successful sync after one or more failures. */
export interface SyncRecoveredEvent extends EventBase {
  event: 'sync.recovered';
  /** failed syncs before this success */
  failures: number;
  /** ISO time of the first of those failures */
  failingSince?: string;
  toCommit: string;
  domains: string[];
}

/** The primary recorded commits it could not push (they are pushed later). */
export interface PushFailedEvent extends EventBase {
  event: 'push.failed';
  unpushed: number;
  error: string;
}

/** A live edit on the primary did not merge with commits from the repo: it was kept on a branch, the repo's version applied. */
export interface RecordConflictEvent extends EventBase {
  event: 'record.conflict';
  /** the conflicting files */
  files: string[];
  /** the branch that holds the live edit */
  branch: string;
  liveCommit: string;
  incomingCommit: string;
  incomingAuthor: string;
  /** one paragraph: the files, both commits, how to resolve */
  text: string;
}

/** The primary refused to record its live dir (an admission rule): nothing is recorded until it is fixed. */
export interface RecordFailedEvent extends EventBase {
  event: 'record.failed';
  error: string;
  /** the first file at fault */
  errorFile?: string;
  /** each problem as "file: why [CODE]" */
  problems: string[];
  /** problemsTextOf(problems) */
  problemsText: string;
}

/** record.failed's `problemsText`: one indented line per problem (an e-mail rebuilds it from escaped problems). */
export function problemsTextOf(problems: readonly string[]): string {
  return problems.map((p) => `  ${p}`).join('\n');
}

/** A sync loaded a service with an address substitution.ips does not map (nor substitution.keep lists). */
export interface SubstitutionUnmappedEvent extends EventBase {
  event: 'substitution.unmapped';
  domain: string;
  /** the service's name in the domain's services.yaml */
  service: string;
  ip: string;
  port: number;
  toCommit: string;
}

/** The standby's live dir differs from the applied commit. */
export interface DriftEvent extends EventBase {
  event: 'drift';
  files: string[];
  domains: string[];
  appliedCommit: string | null;
}

/** The standby is behind the remote head, or the primary's heartbeat is late, for longer than sync.maxLag. */
export interface LagEvent extends EventBase {
  event: 'lag';
  behindSeconds: number;
  reason: 'behind' | 'heartbeat';
  appliedCommit?: string | null;
  targetCommit?: string | null;
}

export interface RoleEvent extends EventBase {
  event: 'promote' | 'demote';
  /** the node's role after the switch */
  role: 'primary' | 'standby';
  /** the node the repo names as primary after the switch */
  primary: string;
  commit?: string;
}

export interface SplitBrainEvent extends EventBase {
  event: 'split-brain';
  /** nodes that each believe they are primary */
  primaries: string[];
  commit?: string;
}

/** This node acted as primary and another node holds the role now: it demoted itself (keepalived's hooks). */
export interface RoleLostEvent extends EventBase {
  event: 'role.lost';
  /** the node the repo names as primary */
  primary: string;
  epoch: number;
  /** what noticed the loss (`keepalived fault`, ...) */
  reason: string;
  /** the branch holding this node's commits and unrecorded edits the remote never got */
  orphan?: string;
  commit?: string;
}

export type TriggerEvent =
  | SyncEvent
  | SyncDisabledEvent
  | SyncRecoveredEvent
  | PushFailedEvent
  | RecordConflictEvent
  | RecordFailedEvent
  | SubstitutionUnmappedEvent
  | DriftEvent
  | LagEvent
  | RoleEvent
  | SplitBrainEvent
  | RoleLostEvent;

/**
 * Variables each event offers to conditions and templates (flattenVariables' keys), including
 * those that are only present sometimes (error*). `validate` warns about any other name.
 */
const COMMON = ['event', 'node', 'time'] as const;
const COMMIT_LIST = ['commits', 'commitCount', 'commitSubjects', 'commitAuthors', 'commitsText'] as const;
export const EVENT_VARIABLES: Record<EventName, readonly string[]> = {
  sync: [
    ...COMMON,
    'success',
    'mode',
    'fromCommit',
    'toCommit',
    'shortCommit',
    ...COMMIT_LIST,
    'domains',
    'domainsText',
    'error',
    'errorFile',
    'errorCommit',
    'errorCode',
    'transient',
    'durationMs',
  ],
  'sync.disabled': [...COMMON, 'reason', 'error', 'errorFile', 'errorCommit', 'appliedCommit'],
  'sync.recovered': [...COMMON, 'failures', 'failingSince', 'toCommit', 'shortCommit', 'domains', 'domainsText'],
  'push.failed': [...COMMON, 'unpushed', 'error'],
  'record.conflict': [...COMMON, 'files', 'branch', 'liveCommit', 'incomingCommit', 'incomingAuthor', 'text'],
  'record.failed': [...COMMON, 'error', 'errorFile', 'problems', 'problemsText'],
  'substitution.unmapped': [...COMMON, 'domain', 'service', 'ip', 'port', 'toCommit', 'shortCommit'],
  drift: [...COMMON, 'files', 'domains', 'domainsText', 'appliedCommit'],
  lag: [...COMMON, 'behindSeconds', 'reason', 'appliedCommit', 'targetCommit'],
  promote: [...COMMON, 'role', 'primary', 'commit'],
  demote: [...COMMON, 'role', 'primary', 'commit'],
  'split-brain': [...COMMON, 'primaries', 'commit'],
  'role.lost': [...COMMON, 'primary', 'epoch', 'reason', 'orphan', 'commit'],
};

export type Scalar = string | number | boolean | null;
export type Value = Scalar | Scalar[];
export type Variables = Record<string, Value>;

/**
 * The event as a flat map of variables for conditions, templates and `exec`'s environment.
 * Scalars stay typed (so `success == false` and `behindSeconds > 600` work); string lists stay
 * lists (for `in`); the commit list becomes `commits` (ids) plus derived lists and a text block.
 * Absent optional fields are absent (a condition reads them as null).
 */
export function flattenVariables(event: TriggerEvent): Variables {
  const vars: Variables = {};
  for (const [key, value] of Object.entries(event)) {
    if (key === 'commits') continue;
    if (value === undefined) continue;
    if (Array.isArray(value)) vars[key] = value.map(toScalar);
    else vars[key] = toScalar(value);
  }
  if (event.event === 'sync') {
    vars.commits = event.commits.map((c) => c.id);
    vars.commitCount = event.commits.length;
    vars.commitSubjects = event.commits.map((c) => c.subject);
    vars.commitAuthors = event.commits.map((c) => c.author);
    vars.commitsText =
      event.commits.length === 0
        ? '  (no new commits)'
        : event.commits.map((c) => `  ${short(c.id)}  ${c.subject}  (${c.author})`).join('\n');
  }
  if ('toCommit' in event) vars.shortCommit = short(event.toCommit);
  if ('domains' in event) vars.domainsText = event.domains.length === 0 ? '(none)' : event.domains.join(', ');
  return vars;
}

/**
 * `GITFAILOVER_<NAME>` environment variables for `exec`: camelCase becomes SNAKE_CASE
 * (`toCommit` -> `GITFAILOVER_TO_COMMIT`), lists are joined with newlines (commit subjects may
 * hold commas), null is the empty string. `GITFAILOVER_EVENT_JSON` holds the whole event.
 */
export function eventEnvironment(event: TriggerEvent): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(flattenVariables(event))) {
    env[envName(key)] = Array.isArray(value) ? value.map(scalarText).join('\n') : scalarText(value);
  }
  env.GITFAILOVER_EVENT_JSON = JSON.stringify(event);
  return env;
}

export function envName(variable: string): string {
  return (
    'GITFAILOVER_' +
    variable
      .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
      .replace(/[^A-Za-z0-9]+/g, '_')
      .toUpperCase()
  );
}

/** The domains an event touches, for per-domain triggers; undefined: the event is not about domains. */
export function eventDomains(event: TriggerEvent): readonly string[] | undefined {
  return 'domains' in event ? event.domains : undefined;
}

export function scalarText(v: Scalar): string {
  return v === null ? '' : String(v);
}

function toScalar(v: unknown): Scalar {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return JSON.stringify(v);
}

function short(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '';
}

const HEAD = '0000000000000000000000000000000000000000';

/** One plausible event per kind, from the fields every event has. */
const SAMPLES: Record<EventName, (base: { node: string; time: string }) => TriggerEvent> = {
  sync: (base) => ({
    ...base,
    event: 'sync',
    success: true,
    mode: 'partial',
    fromCommit: HEAD,
    toCommit: HEAD,
    commits: [{ id: HEAD, subject: 'test event from gitfailover triggers test', author: 'gitfailover' }],
    domains: ['example'],
    durationMs: 0,
  }),
  'sync.disabled': (base) => ({
    ...base,
    event: 'sync.disabled',
    reason: 'a sync failed',
    error: 'test error',
    appliedCommit: HEAD,
  }),
  'sync.recovered': (base) => ({ ...base, event: 'sync.recovered', failures: 1, toCommit: HEAD, domains: ['example'] }),
  'push.failed': (base) => ({ ...base, event: 'push.failed', unpushed: 1, error: 'test error' }),
  'record.conflict': (base) => ({
    ...base,
    event: 'record.conflict',
    files: ['domains/example/users/alice.yaml'],
    branch: 'gitfailover/conflict/test-20240101T000000Z',
    liveCommit: '0'.repeat(40),
    incomingCommit: '1'.repeat(40),
    incomingAuthor: 'Test',
    text: 'test conflict',
  }),
  'record.failed': (base) => ({
    ...base,
    event: 'record.failed',
    error: 'test error',
    errorFile: 'domains/example/shadow.conf',
    problems: ['domains/example/shadow.conf: a symbolic link [E_SYMLINK]'],
    problemsText: '  domains/example/shadow.conf: a symbolic link [E_SYMLINK]',
  }),
  'substitution.unmapped': (base) => ({
    ...base,
    event: 'substitution.unmapped',
    domain: 'example',
    service: 'sftp',
    ip: '10.0.0.6',
    port: 22,
    toCommit: HEAD,
  }),
  drift: (base) => ({
    ...base,
    event: 'drift',
    files: ['domains/example/domain.yaml'],
    domains: ['example'],
    appliedCommit: HEAD,
  }),
  lag: (base) => ({
    ...base,
    event: 'lag',
    behindSeconds: 600,
    reason: 'behind',
    appliedCommit: HEAD,
    targetCommit: HEAD,
  }),
  promote: (base) => ({ ...base, event: 'promote', role: 'primary', primary: base.node }),
  demote: (base) => ({ ...base, event: 'demote', role: 'standby', primary: base.node }),
  'split-brain': (base) => ({ ...base, event: 'split-brain', primaries: [base.node, 'other-node'] }),
  'role.lost': (base) => ({
    ...base,
    event: 'role.lost',
    primary: 'other-node',
    epoch: 2,
    reason: 'keepalived fault',
    orphan: `gitfailover/orphaned/${base.node}-20260101T000000Z`,
  }),
};

/**
 * A plausible event of each kind, for `gitfailover triggers test` and for tests; `overrides`
 * replaces fields (the caller has typed them already).
 */
export function sampleEvent(
  name: EventName,
  node: string,
  overrides: Record<string, unknown> = {},
  now = new Date(),
): TriggerEvent {
  const event = SAMPLES[name]({ node, time: now.toISOString() });
  return { ...event, ...overrides, event: name } as TriggerEvent;
}

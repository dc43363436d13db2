import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError } from '../errors.js';
import { describeChange } from '../model/describe.js';
import { printable, printableText } from '../model/admit.js';
import { domainsDirOf, isSafeSegment } from '../model/layout.js';
import type { Change } from '../model/types.js';
import { changesBetween } from '../repo/changes-between.js';
import { EMPTY_TREE, NodeRepo } from '../repo/node-repo.js';
import { parseTrailers } from './message.js';
import { loadConflicts, type ConflictRecord } from './conflicts.js';

export interface LogOptions {
  /** `--domain D`: commits that touched domains/D */
  domain?: string;
  /** `--user U`: commits that touched domains/<any>/users/U.yaml */
  user?: string;
  /** `--since DATE`: an ISO date/time, or `<n> <unit>s ago` */
  since?: string;
  /** `-n N` */
  max?: number;
  /** Fetch first (default true); without a reachable remote the clone's refs are used. */
  fetch?: boolean;
}

/** One change of an entry: the structured change plus its line of text, for tools and for people. */
export type LogChange = Change & { text: string };

/** One commit of the audit trail; `log --json` prints these (DESIGN.md: commit, time, author, node, subject, changes). */
export interface LogEntry {
  commit: string;
  /** author time, ISO 8601 */
  time: string;
  author: string;
  email: string;
  /** who made the commit object: a forge that merged a pull request, or `gitfailover (<node>)` */
  committer: string;
  /** the `Node:` trailer: the node that recorded it (null for a commit made by hand or by CI) */
  node: string | null;
  subject: string;
  changes: LogChange[];
  /** false while the commit is only in this node's clone */
  pushed: boolean;
}

export interface LogResult {
  entries: LogEntry[];
  /** the commit the trail starts from */
  head?: string;
  /** why the remote was not fetched (the trail is then as of the last fetch) */
  remoteError?: string;
  /** live edits kept on conflict branches by this node (stateDir/conflicts.json) */
  conflicts: ConflictRecord[];
}

const RELATIVE_DATE = /^\d+\s*(second|minute|hour|day|week|month|year)s?\s+ago$/i;

/**
 * `gitfailover log`: the audit trail from the node's clone, newest first.
 *
 * The change list is recomputed with changesBetween (each commit against its first parent)
 * rather than parsed back from the `Changes:` body: commits made by hand or by CI have no such
 * body, the structured list is what `--json` consumers need, and it cannot disagree with what
 * the commit really changed.
 */
export async function auditLog(cfg: NodeConfig, opts: LogOptions = {}): Promise<LogResult> {
  const paths = pathsFor(cfg, opts);
  const since = sinceArg(opts.since);
  if (opts.max !== undefined && (!Number.isInteger(opts.max) || opts.max < 1)) {
    throw new ConfigError(`-n ${opts.max}: expected a whole number of commits, 1 or more`, { field: '-n' });
  }
  const repo = new NodeRepo(cfg.repo);
  try {
    await repo.ensure();
    let remoteError: string | undefined;
    if (opts.fetch !== false) {
      try {
        await repo.fetch(Math.min(cfg.sync.timeout, 15_000));
      } catch (err) {
        if (!(err instanceof GitfailoverError) || err.kind !== 'waiting') throw err;
        remoteError = err.message;
      }
    }
    const tracking = await repo.resolve(repo.trackingRef);
    const local = await repo.resolve(repo.branchRef);
    // The primary's own clone may be ahead (commits not pushed yet): those belong in its trail too.
    // A local branch that diverged from the remote is not shown: the remote is the shared truth.
    const ahead = local !== undefined && local !== tracking && (!tracking || (await repo.isAncestor(tracking, local)));
    const head = ahead ? local : (tracking ?? local);
    if (!head) return { entries: [], remoteError, conflicts: loadConflicts(cfg.repo.stateDir) };
    const unpushed = new Set<string>();
    if (ahead) {
      for (const c of await repo.revList(tracking ? `${tracking}..${local}` : local!)) unpushed.add(c);
    }

    const commits = await repo.history(head, { since, max: opts.max, paths });

    const domainsDir = domainsDirOf(cfg.live.domains);
    const entries: LogEntry[] = [];
    // A few at a time: each is a couple of git calls, and the blob reader is shared.
    for (let i = 0; i < commits.length; i += 8) {
      const batch = commits.slice(i, i + 8);
      entries.push(
        ...(await Promise.all(
          batch.map(async (c): Promise<LogEntry> => {
            const changes = await changesBetween(repo, c.parent ?? EMPTY_TREE, c.commit, domainsDir);
            return {
              commit: c.commit,
              time: c.time,
              author: c.author,
              email: c.email,
              committer: c.committer,
              node: parseTrailers(c.body).Node ?? null,
              subject: c.subject,
              changes: changes.map((ch) => ({ ...ch, text: describeChange(ch) })),
              pushed: !unpushed.has(c.commit),
            };
          }),
        )),
      );
    }
    return { entries, head, remoteError, conflicts: loadConflicts(cfg.repo.stateDir) };
  } finally {
    repo.close();
  }
}

/** Pathspecs for --domain/--user; the names are checked so they cannot widen the pathspec. */
function pathsFor(cfg: NodeConfig, opts: LogOptions): string[] {
  const dir = domainsDirOf(cfg.live.domains);
  for (const [flag, name] of [
    ['--domain', opts.domain],
    ['--user', opts.user],
  ] as const) {
    if (name !== undefined && !isSafeSegment(name)) {
      throw new ConfigError(
        `${flag} ${JSON.stringify(name)}: not a domain or user name (letters, digits, ".", "_", "@", "-")`,
        { field: flag },
      );
    }
  }
  if (opts.domain && opts.user) return [`${dir}/${opts.domain}/users/${opts.user}.yaml`];
  if (opts.domain) return [`${dir}/${opts.domain}`];
  if (opts.user) return [`:(glob)${dir}/*/users/${opts.user}.yaml`];
  return [];
}

/** git takes almost anything as a date and silently ignores what it cannot read: check it here. */
function sinceArg(since: string | undefined): string | undefined {
  if (since === undefined) return undefined;
  const text = since.trim();
  if (RELATIVE_DATE.test(text)) return text;
  const t = Date.parse(text);
  if (Number.isNaN(t)) {
    throw new ConfigError(
      `--since ${JSON.stringify(since)}: not a date; use an ISO date such as 2024-05-01 or 2024-05-01T10:00:00Z, or "3 days ago"`,
      {
        field: '--since',
      },
    );
  }
  return new Date(t).toISOString();
}

/** Live edits the primary kept on conflict branches (record/incoming.ts), newest first, as `log` and `status` show them. */
export function formatConflicts(conflicts: readonly ConflictRecord[]): string {
  return conflicts
    .map(
      (c) =>
        `CONFLICT ${c.time}: ${c.files.map((f) => printable(f.path)).join(', ')}: live edit kept on branch ${c.branch} (${c.liveCommit.slice(0, 12)}), ${c.incomingCommit.slice(0, 12)} from the repo applied\n`,
    )
    .join('');
}

/** The trail for people: one block per commit, newest first. */
export function formatLog(entries: readonly LogEntry[]): string {
  if (entries.length === 0) return 'no commits\n';
  const blocks = entries.map((e) => {
    // A commit someone else made the object of (a forge's merge) says so; our own say the node.
    const by =
      e.committer && e.committer !== e.author && !e.committer.startsWith('gitfailover')
        ? `, committed by ${e.committer}`
        : '';
    // Names and subjects come from the repo: control characters (escape sequences) are printed escaped.
    const who = printableText(`${e.author}${e.node ? ` @ ${e.node}` : ''}${by}`);
    const lines = [
      `${e.commit.slice(0, 12)}  ${e.time}  ${who}${e.pushed ? '' : '  (not pushed yet)'}`,
      `    ${printableText(e.subject)}`,
    ];
    for (const c of e.changes) lines.push(`      - ${printableText(c.text)}`);
    return lines.join('\n');
  });
  return `${blocks.join('\n\n')}\n`;
}

import { loadConflicts, type ConflictRecord } from '../record/conflicts.js';
import { existsSync, lstatSync, readdirSync, readFileSync, type Stats } from 'node:fs';
import { DriftCache } from './drift-cache.js';
import { join, relative, sep } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import { domainsDirOf } from '../model/layout.js';
import { gitBlobId } from '../model/tree-source.js';
import { redact } from '../util/redact.js';
import { NodeRepo } from '../repo/node-repo.js';
import { printable, printableText } from '../model/admit.js';
import { blockedLine, loadRecordBlocked } from '../record/blocked.js';
import { parsePrimaryRecord, PRIMARY_FILE, type PrimaryRecord } from '../model/primary-file.js';
import { STAGING_DIR } from '../loaders/files.js';
import { listOrphans, type Orphan } from '../repo/orphans.js';
import { effectiveRole, loadRoleOverride, roleSource, type RoleOverride } from '../node-state/role-state.js';
import { loadHeartbeat } from '../node-state/heartbeat.js';
import { judgeReadiness, type Readiness, type ReadinessFacts } from './readiness.js';
import { behindOf } from '../repo/behind.js';
import { loadJournal, loadState, StateStore, unmappedOf, type SyncResult } from '../sync/state.js';

export interface NodeStatus {
  node: string;
  role: 'primary' | 'standby';
  remote: string;
  branch: string;
  appliedCommit: string | null;
  /** repo.verify's trusted anchor: the newest commit this node verified and applied. */
  verifiedCommit: string | null;
  targetCommit: string | null;
  behind: number | null;
  automatic: boolean;
  disabledReason: string | null;
  lastSync: SyncResult | null;
  quarantined: { commit: string; reason: string; domains: string[] } | null;
  /** Files of the live dir that differ from the rendered applied commit (edited by hand). */
  drift: { changed: string[]; missing: string[]; extra: string[] };
  /** Commits in this node's clone the remote does not have. */
  unpushed: number;
  /** The node the repo names as primary. */
  primary: PrimaryRecord | null;
  interruptedApply: string | null;
  remoteError: string | null;
  /** Commits a demote kept off the branch (`gitfailover/orphaned/...`), never dropped. */
  orphaned: Orphan[];
  /** The role promote/demote gave this node (stateDir/role.json), overriding the node file's. */
  roleOverride: RoleOverride | null;
  /** Primary: live edits kept on conflict branches because they did not merge with the repo's commits (newest first). */
  conflicts: ConflictRecord[];
  /** `sync --to` an older commit: the node stays there, automatic sync off, until `sync --enable`. */
  pinned: { commit: string; time: string } | null;
  /** The last heartbeat from the primary, and whether what it announced is applied here. */
  heartbeat: { time: string; node?: string; commit?: string; covered: boolean } | null;
  /** The primary's last record was refused by the admission rules: "recording blocked: <file>: <why>". */
  recordBlocked: string | null;
  /** Service addresses loaded unsubstituted (standby), as "domain ip|port". */
  unmapped: string[];
  /** judgeReadiness() over these facts (commands.check is not run by status; `ready` runs it). */
  ready: Readiness;
}

/** The facts of a status for judgeReadiness(). */
export function readinessFacts(
  s: Omit<NodeStatus, 'ready'>,
  roleSource: string,
  opts: { fetched: boolean },
): ReadinessFacts {
  return {
    node: s.node,
    role: s.role,
    roleSource,
    ...(opts.fetched
      ? {
          remote: s.remoteError
            ? { ok: false as const, detail: s.remoteError }
            : {
                ok: true as const,
                detail: `${s.remote} (${s.branch}) answers, head ${s.targetCommit ? s.targetCommit.slice(0, 12) : '(none)'}`,
              },
        }
      : {}),
    appliedCommit: s.appliedCommit,
    headCommit: s.targetCommit,
    behind: s.behind,
    lastSync: s.lastSync,
    drift: [...s.drift.changed, ...s.drift.missing, ...s.drift.extra],
    quarantined: s.quarantined,
    pinned: s.pinned,
    interruptedApply: s.interruptedApply,
    heartbeat: s.heartbeat
      ? {
          ageSeconds: Math.max(0, (Date.now() - Date.parse(s.heartbeat.time)) / 1000),
          node: s.heartbeat.node,
          commit: s.heartbeat.commit,
          covered: s.heartbeat.covered,
        }
      : null,
    unmapped: s.unmapped,
    recordBlocked: s.recordBlocked,
    repoPrimary: splitBrainOf(s),
  };
}

export async function statusOf(cfg: NodeConfig, opts: { fetch?: boolean } = {}): Promise<NodeStatus> {
  const repo = new NodeRepo(cfg.repo);
  try {
    await repo.ensure();
    let remoteError: string | null = null;
    let head: string | undefined;
    if (opts.fetch !== false) {
      try {
        head = await repo.fetch(Math.min(cfg.sync.timeout, 15_000));
      } catch (err) {
        remoteError = err instanceof GitfailoverError ? err.message : String(err);
        head = await repo.resolveRef(repo.trackingRef);
      }
    } else {
      // Through the kept-open cat-file the primary-file read below needs anyway: no rev-parse process.
      head = await repo.resolveRef(repo.trackingRef);
    }
    const state = loadState(cfg.repo.stateDir);
    const role = effectiveRole(cfg);
    const local = await repo.resolveRef(repo.branchRef);
    const applied = role === 'standby' ? state.appliedCommit : local;
    const behind = await behindOf(repo, applied ?? undefined, head);
    const unpushed = local ? await repo.count(head, local) : 0;
    const roleBlob = head ? await repo.blobs.readBlob(`${head}:${PRIMARY_FILE}`) : undefined;
    const journal = loadJournal(cfg.repo.stateDir);
    const hb = loadHeartbeat(cfg.repo.stateDir);
    let heartbeat: NodeStatus['heartbeat'] = null;
    if (hb) {
      const covered =
        !hb.commit ||
        (!!applied && (hb.commit === applied || (await repo.isAncestor(hb.commit, applied).catch(() => false))));
      heartbeat = { ...hb, covered };
    }
    const s: Omit<NodeStatus, 'ready'> = {
      node: cfg.node,
      role,
      remote: redact(cfg.repo.remote),
      branch: cfg.repo.branch,
      appliedCommit: applied ?? null,
      verifiedCommit: state.verifiedCommit ?? null,
      targetCommit: head ?? null,
      behind,
      automatic: cfg.sync.automatic && !state.disabled,
      disabledReason: state.disabled?.reason ?? (cfg.sync.automatic ? null : `sync.automatic is false in ${cfg.file}`),
      lastSync: state.lastSync ?? null,
      quarantined: state.quarantined && state.quarantined.commit === head ? state.quarantined : null,
      drift:
        role === 'standby'
          ? driftOf(cfg, new StateStore(cfg.repo.stateDir).manifest())
          : { changed: [], missing: [], extra: [] },
      unpushed,
      primary: roleBlob ? (parsePrimaryRecord(roleBlob.toString('utf8')) ?? null) : null,
      interruptedApply: journal?.target ?? null,
      remoteError,
      orphaned: await listOrphans(repo, head),
      roleOverride: loadRoleOverride(cfg.repo.stateDir) ?? null,
      conflicts: loadConflicts(cfg.repo.stateDir),
      pinned: state.pinned ?? null,
      heartbeat,
      recordBlocked: (() => {
        const b = loadRecordBlocked(cfg.repo.stateDir);
        return b ? blockedLine(b) : null;
      })(),
      unmapped: unmappedOf(cfg.repo.stateDir, state, cfg.substitution),
    };
    return { ...s, ready: judgeReadiness(readinessFacts(s, roleSource(cfg), { fetched: opts.fetch !== false })) };
  } finally {
    repo.close();
  }
}

/**
 * Compare the live dir with the manifest of what the last apply wrote. Only the files whose stat
 * fingerprint moved since a check found them intact are read and hashed (drift-cache.ts): a
 * live dir of 220,000 files is otherwise read in full by every `status` and drift check.
 */
export function driftOf(
  cfg: NodeConfig,
  manifest: Record<string, string>,
  opts: { now?: number } = {},
): NodeStatus['drift'] {
  const changed: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  const cache = DriftCache.load(cfg.repo.stateDir, opts.now);
  const linked = symlinkedFolders(cfg.live.dir);
  for (const [path, id] of Object.entries(manifest)) {
    const file = join(cfg.live.dir, path);
    let st: Stats | undefined;
    try {
      st = lstatSync(file, { throwIfNoEntry: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTDIR') throw err;
    }
    if (!st) {
      missing.push(path);
      continue;
    }
    // A symbolic link where the apply wrote a file or a folder: the next sync refuses it, so it is drift
    // even when the bytes it points at are the same.
    if (st.isSymbolicLink() || linked(path)) {
      changed.push(path);
      continue;
    }
    if (cache.intact(path, id, st)) continue;
    if (gitBlobId(readFileSync(file)) !== id) changed.push(path);
    else cache.remember(path, id, st);
  }
  cache.save();
  // Files added by hand inside a managed domain's folder.
  const domainsRoot = join(cfg.live.dir, domainsDirOf(cfg.live.domains));
  const managed = new Set(Object.keys(manifest).map((p) => p.split('/').slice(0, 2).join('/')));
  for (const d of managed) {
    const dir = join(cfg.live.dir, d);
    if (!dir.startsWith(domainsRoot) || !existsSync(dir)) continue;
    for (const f of walk(dir)) {
      const rel = relative(cfg.live.dir, f).split(sep).join('/');
      if (!(rel in manifest) && !rel.includes(STAGING_DIR)) extra.push(rel);
    }
  }
  return { changed: changed.sort(), missing: missing.sort(), extra: extra.sort() };
}

/** Whether a folder above a manifest path is a symbolic link; each folder looked at once. */
function symlinkedFolders(liveDir: string): (path: string) => boolean {
  const seen = new Map<string, boolean>();
  return (path) => {
    const parts = path.split('/');
    let rel = '';
    for (let i = 0; i < parts.length - 1; i++) {
      rel = rel ? `${rel}/${parts[i]}` : parts[i]!;
      let link = seen.get(rel);
      if (link === undefined) {
        link = lstatSync(join(liveDir, rel), { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
        seen.set(rel, link);
      }
      if (link) return true;
    }
    return false;
  };
}

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

/**
 * Acting as primary while the repo names another node. Not while this node's own newer role
 * commit waits for the remote (promote --offline): that is a promote in progress.
 */
export function splitBrainOf(
  s: Pick<NodeStatus, 'node' | 'role' | 'primary' | 'roleOverride'>,
): { node: string; epoch: number } | null {
  if (s.role !== 'primary' || !s.primary || s.primary.node === s.node) return null;
  const o = s.roleOverride;
  if (o?.role === 'primary' && o.pushed === false && o.epoch > s.primary.epoch) return null;
  return s.primary;
}

/** The problem `status` reports, most serious first; its exit code is STATUS_EXIT[code] (README "Exit codes"). */
export function statusProblem(s: NodeStatus): 'E_SPLIT_BRAIN' | 'E_LAST_SYNC_FAILED' | 'E_QUARANTINED' | undefined {
  if (splitBrainOf(s)) return 'E_SPLIT_BRAIN';
  // A quarantined head is also a failed last sync: the cause (5) wins over the symptom (4).
  if (s.role === 'standby' && s.quarantined) return 'E_QUARANTINED';
  if (s.role === 'standby' && s.lastSync && !s.lastSync.success) return 'E_LAST_SYNC_FAILED';
  return undefined;
}

export function formatStatus(s: NodeStatus): string {
  const short = (c: string | null) => (c ? c.slice(0, 12) : '-');
  const lines = [
    `node:        ${s.node} (${s.role})`,
    `remote:      ${s.remote} (${s.branch})${s.remoteError ? `  UNREACHABLE: ${s.remoteError}` : ''}`,
    `primary:     ${s.primary ? `${s.primary.node} (epoch ${s.primary.epoch})` : '-'}`,
    `${s.role === 'standby' ? 'applied' : 'local'}:     ${short(s.appliedCommit)}`,
    `remote head: ${short(s.targetCommit)}`,
    `behind:      ${s.behind ?? (s.role === 'primary' ? 'diverged (the next record takes the remote commits in)' : 'history differs (a full sync is needed)')}`,
  ];
  if (s.role === 'primary' || s.unpushed > 0) lines.push(`unpushed:    ${s.unpushed}`);
  if (s.recordBlocked) lines.push(s.recordBlocked);
  if (s.role === 'standby') {
    lines.push(`automatic:   ${s.automatic ? 'on' : `off${s.disabledReason ? ` (${s.disabledReason})` : ''}`}`);
    if (s.lastSync) {
      const l = s.lastSync;
      lines.push(
        `last sync:   ${l.success ? 'ok' : 'FAILED'} ${l.mode} ${short(l.fromCommit ?? null)} -> ${short(l.toCommit ?? null)} at ${l.time} (${l.durationMs}ms)${l.error ? `: ${l.error}` : ''}`,
      );
    }
    if (s.quarantined) lines.push(`quarantined: ${short(s.quarantined.commit)} (${s.quarantined.reason})`);
    if (s.pinned)
      lines.push(
        `pinned:      ${short(s.pinned.commit)} by "gitfailover sync --to" since ${s.pinned.time} ("gitfailover sync --enable" un-pins)`,
      );
    const d = s.drift;
    const n = d.changed.length + d.missing.length + d.extra.length;
    lines.push(`drift:       ${n === 0 ? 'none' : `${n} file(s) differ from the applied commit`}`);
    // A name in the live dir may hold escape sequences: printed escaped, never raw to a terminal.
    for (const p of d.changed) lines.push(`  changed  ${printable(p)}`);
    for (const p of d.missing) lines.push(`  missing  ${printable(p)}`);
    for (const p of d.extra) lines.push(`  extra    ${printable(p)}`);
  }
  if (splitBrainOf(s) && s.primary) {
    lines.push(
      `SPLIT BRAIN: this node acts as primary but the repo names ${s.primary.node} (epoch ${s.primary.epoch}); it does not record. Run "gitfailover demote" here.`,
    );
  }
  for (const o of s.orphaned)
    lines.push(
      `orphaned:    ${o.branch} (${o.commits} commit(s) not in the remote head, ${short(o.commit)}): kept by demote; merge or drop it by hand`,
    );
  for (const c of s.conflicts) {
    lines.push(
      `conflict:    ${c.time} ${c.files.map((f) => f.path).join(', ')}: live edit kept on ${c.branch} (${short(c.liveCommit)}), ${short(c.incomingCommit)} from the repo applied; merge the branch to keep the edit`,
    );
  }
  if (s.interruptedApply)
    lines.push(`interrupted: an apply to ${short(s.interruptedApply)} will be finished by the next sync`);
  lines.push(`ready:       ${s.ready.ready ? 'yes' : 'no'} (${s.ready.reason})`);
  // Names, subjects and errors come from the repo or the live dir: no raw control character reaches a terminal.
  return `${lines.map((l) => printableText(l)).join('\n')}\n`;
}

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import { domainsDirOf } from '../model/layout.js';
import { gitBlobId } from '../model/tree-source.js';
import { redact } from '../repo/git.js';
import { NodeRepo } from '../repo/node-repo.js';
import { printable } from '../model/admit.js';
import { blockedLine, loadRecordBlocked } from '../record/blocked.js';
import { parsePrimaryRecord, PRIMARY_FILE, type PrimaryRecord } from '../role/primary-file.js';
import { STAGING_DIR } from '../loaders/files.js';
import { listOrphans, type Orphan } from '../role/orphans.js';
import { effectiveRole, loadRoleOverride, type RoleOverride } from '../role/role-state.js';
import { loadJournal, loadState, type SyncResult } from './state.js';

export interface NodeStatus {
  node: string;
  role: 'primary' | 'standby';
  remote: string;
  branch: string;
  appliedCommit: string | null;
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
  /** The primary's last record was refused by the admission rules: "recording blocked: <file>: <why>". */
  recordBlocked: string | null;
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
        head = await repo.resolve(repo.trackingRef);
      }
    } else {
      head = await repo.resolve(repo.trackingRef);
    }
    const state = loadState(cfg.repo.stateDir);
    const role = effectiveRole(cfg);
    const applied = role === 'standby' ? state.appliedCommit : await repo.resolve(repo.branchRef);
    let behind: number | null = null;
    if (head && applied) behind = (await repo.isAncestor(applied, head)) ? await repo.count(applied, head) : null;
    else if (head) behind = await repo.count(undefined, head);
    else behind = 0;
    const local = await repo.resolve(repo.branchRef);
    const unpushed = local ? await repo.count(head, local) : 0;
    const roleBlob = head ? await repo.blobs.readBlob(`${head}:${PRIMARY_FILE}`) : undefined;
    const journal = loadJournal(cfg.repo.stateDir);
    return {
      node: cfg.node,
      role,
      remote: redact(cfg.repo.remote),
      branch: cfg.repo.branch,
      appliedCommit: applied ?? null,
      targetCommit: head ?? null,
      behind,
      automatic: cfg.sync.automatic && !state.disabled,
      disabledReason: state.disabled?.reason ?? (cfg.sync.automatic ? null : `sync.automatic is false in ${cfg.file}`),
      lastSync: state.lastSync ?? null,
      quarantined: state.quarantined && state.quarantined.commit === head ? state.quarantined : null,
      drift: role === 'standby' ? driftOf(cfg, state.manifest) : { changed: [], missing: [], extra: [] },
      unpushed,
      primary: roleBlob ? (parsePrimaryRecord(roleBlob.toString('utf8')) ?? null) : null,
      interruptedApply: journal?.target ?? null,
      remoteError,
      orphaned: await listOrphans(repo, head),
      roleOverride: loadRoleOverride(cfg.repo.stateDir) ?? null,
      recordBlocked: (() => {
        const b = loadRecordBlocked(cfg.repo.stateDir);
        return b ? blockedLine(b) : null;
      })(),
    };
  } finally {
    repo.close();
  }
}

/** Compare the live dir with the manifest of what the last apply wrote. */
export function driftOf(cfg: NodeConfig, manifest: Record<string, string>): NodeStatus['drift'] {
  const changed: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [path, id] of Object.entries(manifest)) {
    const file = join(cfg.live.dir, path);
    if (!existsSync(file)) missing.push(path);
    else if (gitBlobId(readFileSync(file)) !== id) changed.push(path);
  }
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

function* walk(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

export function formatStatus(s: NodeStatus): string {
  const short = (c: string | null) => (c ? c.slice(0, 12) : '-');
  const lines = [
    `node:        ${s.node} (${s.role})`,
    `remote:      ${s.remote} (${s.branch})${s.remoteError ? `  UNREACHABLE: ${s.remoteError}` : ''}`,
    `primary:     ${s.primary ? `${s.primary.node} (epoch ${s.primary.epoch})` : '-'}`,
    `${s.role === 'standby' ? 'applied' : 'local'}:     ${short(s.appliedCommit)}`,
    `remote head: ${short(s.targetCommit)}`,
    `behind:      ${s.behind ?? 'history differs (a full sync is needed)'}`,
  ];
  if (s.role === 'primary' || s.unpushed > 0) lines.push(`unpushed:    ${s.unpushed}`);
  if (s.recordBlocked) lines.push(s.recordBlocked);
  if (s.role === 'standby') {
    lines.push(`automatic:   ${s.automatic ? 'on' : `off${s.disabledReason ? ` (${s.disabledReason})` : ''}`}`);
    if (s.lastSync) {
      const l = s.lastSync;
      lines.push(`last sync:   ${l.success ? 'ok' : 'FAILED'} ${l.mode} ${short(l.fromCommit ?? null)} -> ${short(l.toCommit ?? null)} at ${l.time} (${l.durationMs}ms)${l.error ? `: ${l.error}` : ''}`);
    }
    if (s.quarantined) lines.push(`quarantined: ${short(s.quarantined.commit)} (${s.quarantined.reason})`);
    const d = s.drift;
    const n = d.changed.length + d.missing.length + d.extra.length;
    lines.push(`drift:       ${n === 0 ? 'none' : `${n} file(s) differ from the applied commit`}`);
    // A name in the live dir may hold escape sequences: printed escaped, never raw to a terminal.
    for (const p of d.changed) lines.push(`  changed  ${printable(p)}`);
    for (const p of d.missing) lines.push(`  missing  ${printable(p)}`);
    for (const p of d.extra) lines.push(`  extra    ${printable(p)}`);
  }
  if (s.role === 'primary' && s.primary && s.primary.node !== s.node) {
    lines.push(`SPLIT BRAIN: this node acts as primary but the repo names ${s.primary.node} (epoch ${s.primary.epoch}); it does not record. Run "gitfailover demote" here.`);
  }
  for (const o of s.orphaned) lines.push(`orphaned:    ${o.branch} (${o.commits} commit(s) not in the remote head, ${short(o.commit)}): kept by demote; merge or drop it by hand`);
  if (s.interruptedApply) lines.push(`interrupted: an apply to ${short(s.interruptedApply)} will be finished by the next sync`);
  return lines.join('\n') + '\n';
}

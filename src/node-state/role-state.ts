import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import { writeJsonAtomic } from '../util/atomic.js';

export type Role = 'primary' | 'standby';

/**
 * `stateDir/role.json`: the role `promote`/`demote` gave this node. It overrides the node file's
 * `role`, so a failover can take over without anyone editing (or templating) its node file, and
 * a returning production node can be made to follow without touching its own. The node file's
 * `role` is only the role a node starts with.
 */
export interface RoleOverride {
  role: Role;
  /** The epoch of `.gitfailover/primary` this switch wrote (promote) or followed (demote). */
  epoch: number;
  time: string;
  reason: string;
  /** The role commit (promote) or the remote head followed (demote). */
  commit?: string;
  /** promote --offline: the role commit still waits for the remote. */
  pushed?: boolean;
}

export function rolePath(stateDir: string): string {
  return join(stateDir, 'role.json');
}

export function loadRoleOverride(stateDir: string): RoleOverride | undefined {
  const p = rolePath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as Partial<RoleOverride>;
    if (v.role !== 'primary' && v.role !== 'standby') return undefined;
    return {
      role: v.role,
      epoch: Number(v.epoch ?? 0),
      time: String(v.time ?? ''),
      reason: String(v.reason ?? ''),
      commit: v.commit,
      pushed: v.pushed,
    };
  } catch {
    return undefined; // unreadable: fall back to the node file, which is the safer default for a standby
  }
}

export function saveRoleOverride(stateDir: string, r: RoleOverride): void {
  writeJsonAtomic(rolePath(stateDir), r);
}

/** The role this node acts in now: the last promote/demote, else the node file's `role`. */
export function effectiveRole(cfg: Pick<NodeConfig, 'role' | 'repo'>): Role {
  return loadRoleOverride(cfg.repo.stateDir)?.role ?? cfg.role;
}

/** Where the effective role comes from, for messages ("role: standby in FILE" or "promoted: stateDir/role.json"). */
export function roleSource(cfg: Pick<NodeConfig, 'role' | 'repo' | 'file'>): string {
  const o = loadRoleOverride(cfg.repo.stateDir);
  return o
    ? `${rolePath(cfg.repo.stateDir)}, written by "gitfailover ${o.role === 'primary' ? 'promote' : 'demote'}" at ${o.time}`
    : `role: ${cfg.role} in ${cfg.file}`;
}

/** A primary's live dir is the source of truth: syncing the repo over it would undo its own edits. */
export function assertMayApply(cfg: Pick<NodeConfig, 'role' | 'repo' | 'file' | 'node'>): void {
  if (effectiveRole(cfg) !== 'primary') return;
  throw new GitfailoverError(
    'E_IS_PRIMARY',
    `${cfg.node} is the primary (${roleSource(cfg)}): a primary records its live dir and never syncs from the repo. Run "gitfailover demote" to make it a standby first.`,
    { kind: 'stalling' },
  );
}

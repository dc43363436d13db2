import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { TriggerDispatcher } from '../triggers/dispatcher.js';
import { writeJsonAtomic } from '../util/atomic.js';
import type { Heartbeat } from './heartbeat.js';
import type { PrimaryRecord } from '../model/primary-file.js';

/**
 * `stateDir/role-lost.json`: this node acted as primary and found another node had taken the role
 * (a split brain the fence settled). While it is there, the node does not ask for the virtual
 * address again (`ready --quiet` fails), or the two nodes would take the role from each other in
 * turns for as long as the partition lasts. A heartbeat from the winner, sent after the loss,
 * shows the partition healed and clears it; so do `promote` and `gitfailover vrrp clear`.
 */
export interface RoleLost {
  /** The node the repo names now. */
  lostTo: string;
  epoch: number;
  time: string;
  /** What noticed it: `keepalived fault`, `keepalived backup`, ... */
  reason: string;
  /** Where this node's commits and unrecorded edits the remote never got are kept. */
  orphan?: string;
}

export function roleLostPath(stateDir: string): string {
  return join(stateDir, 'role-lost.json');
}

export function loadRoleLost(stateDir: string): RoleLost | undefined {
  const p = roleLostPath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as Partial<RoleLost>;
    if (typeof v.lostTo !== 'string' || typeof v.time !== 'string') return undefined;
    return {
      lostTo: v.lostTo,
      epoch: Number(v.epoch ?? 0),
      time: v.time,
      reason: String(v.reason ?? ''),
      orphan: v.orphan,
    };
  } catch {
    return undefined;
  }
}

export function saveRoleLost(stateDir: string, lost: RoleLost): void {
  writeJsonAtomic(roleLostPath(stateDir), lost);
}

export function clearRoleLost(stateDir: string): void {
  rmSync(roleLostPath(stateDir), { force: true });
}

/** The winner has been heard from since the loss: the partition between the nodes is over. */
export function lossHealed(lost: RoleLost, hb: Heartbeat | undefined): boolean {
  return !!hb && hb.node === lost.lostTo && Date.parse(hb.time) > Date.parse(lost.time);
}

/** The `role.lost` event through the node's triggers (bounded wait, like the other role events). */
export async function fireRoleLost(
  cfg: NodeConfig,
  winner: PrimaryRecord,
  extra: { orphan?: string; commit?: string; reason: string },
): Promise<void> {
  if (cfg.triggers.length === 0) return;
  const dispatcher = new TriggerDispatcher(cfg.triggers);
  dispatcher.fire({
    event: 'role.lost',
    node: cfg.node,
    time: new Date().toISOString(),
    primary: winner.node,
    epoch: winner.epoch,
    reason: extra.reason,
    ...(extra.orphan ? { orphan: extra.orphan } : {}),
    ...(extra.commit ? { commit: extra.commit } : {}),
  });
  await dispatcher.drain(Math.min(cfg.sync.timeout, 15_000));
}

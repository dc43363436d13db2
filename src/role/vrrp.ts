import { appendFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError, errorMessage } from '../errors.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { dropAddressVerdict } from '../node-state/address-verdict.js';
import { demote } from './demote.js';
import type { PrimaryRecord } from '../model/primary-file.js';
import { promote } from './promote.js';
import { refreshAddressVerdict } from '../observe/ready.js';
import { governingPrimary } from '../node-state/repo-primary.js';
import { clearRoleLost, fireRoleLost, loadRoleLost, saveRoleLost } from '../node-state/role-lost.js';
import { effectiveRole } from '../node-state/role-state.js';

/** The states keepalived's notify hooks announce (notify_master, notify_backup, notify_fault, notify_stop). */
export const VRRP_STATES = ['master', 'backup', 'fault', 'stop'] as const;
export type VrrpState = (typeof VRRP_STATES)[number];

export type VrrpAction =
  | 'promoted'
  | 'promoted-offline'
  | 'already-primary'
  | 'already-standby'
  | 'kept-role'
  | 'demoted'
  | 'lost'
  | 'refused'
  | 'superseded';

export interface VrrpOutcome {
  state: VrrpState;
  action: VrrpAction;
  /** One sentence: what happened and why (also the line in stateDir/vrrp.log). */
  detail: string;
  /** A refusal or a failed step: the hook exits 1. */
  failed: boolean;
}

/**
 * `stateDir/vrrp.d/<seq>`: one file per announcement. `seq` orders them as keepalived spawned the
 * hooks (the process's start time since boot, then its pid), not as they got to run: on a loaded
 * machine a hook spawned later can start its work first.
 */
const ANNOUNCED_DIR = 'vrrp.d';

export function vrrpLogPath(stateDir: string): string {
  return join(stateDir, 'vrrp.log');
}

/** This process's place in keepalived's order of spawning hooks. */
export function spawnSeq(): string {
  let ticks = '0';
  try {
    // /proc/self/stat: field 22 (starttime) counts clock ticks since boot; the command name (field 2) may hold spaces.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
  } catch {
    ticks = String(Date.now()); // not Linux: the order the hooks got to run
  }
  return `${ticks.padStart(20, '0')}-${String(process.pid).padStart(10, '0')}`;
}

/**
 * One keepalived notification, acted on with the guarantees a hook needs:
 *  - latest wins: keepalived may announce master then backup within a second, and runs each hook as
 *    its own process; every hook writes what it was told to vrrp.d/ first, then waits for the
 *    node's `role` lock (which promote and demote from the command line take too), and a hook that
 *    finds a newer announcement when its turn comes does nothing;
 *  - idempotent: master on a primary, backup on a standby change nothing;
 *  - bounded: `timeoutMs` bounds the wait for the lock, and the command ends the process when the
 *    whole run takes longer (every step of promote and demote converges after a crash);
 *  - said: every outcome is one line in stateDir/vrrp.log, and promote, demote and role.lost fire
 *    their events.
 */
export async function vrrpNotify(
  cfg: NodeConfig,
  state: VrrpState,
  opts: { timeoutMs: number; log?: (line: string) => void; seq?: string },
): Promise<VrrpOutcome> {
  mkdirSync(cfg.repo.stateDir, { recursive: true });
  // Each step as it happens: keepalived discards a hook's output, and a slow step must be visible while it runs.
  const log = (line: string) => {
    opts.log?.(line);
    appendVrrpLog(cfg, { state, step: line });
  };
  log('announced by keepalived');
  const dir = join(cfg.repo.stateDir, ANNOUNCED_DIR);
  mkdirSync(dir, { recursive: true });
  const seq = opts.seq ?? spawnSeq();
  writeFileSync(join(dir, seq), `${state}\n`);
  let outcome: VrrpOutcome;
  try {
    outcome = await withRoleLock(
      cfg,
      async () => {
        log('holds the role lock');
        const later = readdirSync(dir)
          .filter((f) => f > seq)
          .sort();
        if (later.length > 0) {
          const last = readFileSync(join(dir, later[later.length - 1]!), 'utf8').trim();
          return done(state, 'superseded', `keepalived announced ${last} after this; that hook acts`, false);
        }
        try {
          return state === 'master' ? await becomeMaster(cfg, log) : await leaveMaster(cfg, state, log);
        } finally {
          for (const f of readdirSync(dir)) if (f < seq) rmSync(join(dir, f), { force: true });
        }
      },
      opts.timeoutMs,
    );
  } catch (err) {
    outcome = done(state, 'refused', errorMessage(err), true);
  }
  // The role may have changed (or the node lost a split brain): keepalived's track file says so now, not at the daemon's next tick.
  if (outcome.action !== 'superseded')
    await refreshAddressVerdict(cfg, { force: true }).catch(() => dropAddressVerdict(cfg.repo.stateDir));
  writeVrrpLog(cfg, outcome);
  return outcome;
}

/** The lock that keeps a hook and a person's promote/demote from switching the role at the same moment. */
export function withRoleLock<T>(cfg: NodeConfig, fn: () => Promise<T>, waitMs?: number): Promise<T> {
  return withLock(cfg.repo.stateDir, 'role', fn, waitMs);
}

async function becomeMaster(cfg: NodeConfig, log: (line: string) => void): Promise<VrrpOutcome> {
  const lost = loadRoleLost(cfg.repo.stateDir);
  if (lost) {
    // ready --quiet fails while the marker is there, so keepalived should not have made this node master.
    return done(
      'master',
      'refused',
      `not promoting: ${cfg.node} lost the role to ${lost.lostTo} (epoch ${lost.epoch}) at ${lost.time} and has not heard from it since; run "gitfailover vrrp clear" once the partition is over`,
      true,
    );
  }
  const wasPrimary = effectiveRole(cfg) === 'primary';
  const reason = 'keepalived: this node holds the virtual address (VRRP master)';
  try {
    const r = await promote(cfg, { reason, actor: 'keepalived', log });
    if (r.already)
      return done(
        'master',
        'already-primary',
        `already the primary (epoch ${r.epoch})${r.pushed ? '; pushed its role change' : ''}${r.pushError ? `; ${r.pushError.message}` : ''}`,
        false,
      );
    return done(
      'master',
      'promoted',
      `promoted to primary (epoch ${r.epoch}${r.previous ? `, was ${r.previous.node}` : ''}), role commit ${r.commit.slice(0, 12)} pushed`,
      false,
    );
  } catch (err) {
    if (!(err instanceof GitfailoverError)) throw err;
    if (err.code === 'E_NOT_PRIMARY' && wasPrimary) {
      // Acted as primary, but the repo names another node: take the address, not the role.
      const winner = err.data.primary as PrimaryRecord | undefined;
      if (winner) return loseRole(cfg, 'master', winner, log);
    }
    if (err.code !== 'E_PROMOTE_REMOTE') return done('master', 'refused', err.message, true);
    // The remote does not answer: serve and record locally; the role commit is pushed when it returns.
    const r = await promote(cfg, {
      reason: `${reason}; the remote did not answer`,
      actor: 'keepalived',
      offline: true,
      log,
    });
    return done(
      'master',
      'promoted-offline',
      `promoted to primary offline (epoch ${r.epoch}): the remote did not answer (${err.message}); the role commit ${r.commit.slice(0, 12)} is pushed when it does, or the push is refused if another node took over meanwhile`,
      false,
    );
  }
}

/**
 * backup, fault, stop: this node does not hold the address. A standby has nothing to do. A primary
 * that the repo no longer names lost a split brain: it demotes (its edits go to the orphan
 * branch) and fires role.lost. On fault or stop a primary demotes anyway, since the peer
 * takes the address and, once ready, the role; on backup a primary the repo still names keeps the
 * role (both nodes start as BACKUP, and a cluster start must not churn the role).
 */
async function leaveMaster(cfg: NodeConfig, state: VrrpState, log: (line: string) => void): Promise<VrrpOutcome> {
  if (effectiveRole(cfg) !== 'primary') return done(state, 'already-standby', 'a standby already', false);
  const gov = await repoPrimary(cfg);
  if (gov.record && gov.record.node !== cfg.node) return loseRole(cfg, state, gov.record, log);
  if (state === 'backup')
    return done(
      state,
      'kept-role',
      `stays primary: the repo names ${cfg.node}${gov.remoteError ? ` as far as it knows (${gov.remoteError})` : ''}; when the peer takes the address it takes the role, and this node then demotes`,
      false,
    );
  const r = await demote(cfg, { reason: `keepalived: VRRP ${state}`, log });
  return done(
    state,
    'demoted',
    `demoted to standby (keepalived ${state})${r.orphan ? `; unpushed work kept on ${r.orphan.branch}` : ''}${r.sync.success ? '' : `; the full sync failed: ${r.sync.error}`}`,
    !r.sync.success,
  );
}

async function loseRole(
  cfg: NodeConfig,
  state: VrrpState,
  winner: PrimaryRecord,
  log: (line: string) => void,
): Promise<VrrpOutcome> {
  const reason = `keepalived ${state}`;
  const r = await demote(cfg, { reason: `lost the role to ${winner.node} (epoch ${winner.epoch}): ${reason}`, log });
  // backup: keepalived hears the winner, so it will not take the address back; master/fault: it may not.
  if (state !== 'backup')
    saveRoleLost(cfg.repo.stateDir, {
      lostTo: winner.node,
      epoch: winner.epoch,
      time: new Date().toISOString(),
      reason,
      ...(r.orphan ? { orphan: r.orphan.branch } : {}),
    });
  await fireRoleLost(cfg, winner, {
    reason,
    ...(r.orphan ? { orphan: r.orphan.branch, commit: r.orphan.commit } : {}),
  });
  return done(
    state,
    'lost',
    `lost the role to ${winner.node} (epoch ${winner.epoch}) and demoted${r.orphan ? `; ${r.orphan.commits} commit(s) the remote never got are kept on ${r.orphan.branch}${r.orphan.pushed ? ' (pushed)' : ''}` : ''}${r.unrecorded ? ` (including an unrecorded edit of ${r.unrecorded.files.length} file(s))` : ''}${r.sync.success ? '' : `; the full sync failed: ${r.sync.error}`}`,
    !r.sync.success,
  );
}

/** The primary the repo names now: the remote's head when it answers, else the last fetched one. */
async function repoPrimary(cfg: NodeConfig): Promise<{ record?: PrimaryRecord; remoteError?: string }> {
  const repo = new NodeRepo(cfg.repo);
  try {
    await repo.ensure();
    let head: string | undefined;
    let remoteError: string | undefined;
    try {
      head = await repo.fetch(Math.min(cfg.sync.timeout, 15_000));
    } catch (err) {
      remoteError = errorMessage(err);
      head = await repo.resolve(repo.trackingRef);
    }
    const gov = await governingPrimary(repo, await repo.resolve(repo.branchRef), head);
    return { record: gov.record, ...(remoteError ? { remoteError } : {}) };
  } finally {
    repo.close();
  }
}

/** `gitfailover vrrp clear`: the operator says the partition is over; the node may ask for the address again. */
export function clearVrrpLoss(cfg: NodeConfig): string | undefined {
  const lost = loadRoleLost(cfg.repo.stateDir);
  clearRoleLost(cfg.repo.stateDir);
  if (lost)
    writeVrrpLog(
      cfg,
      done('backup', 'already-standby', `role-lost marker (lost to ${lost.lostTo}) cleared by hand`, false),
    );
  return lost?.lostTo;
}

function done(state: VrrpState, action: VrrpAction, detail: string, failed: boolean): VrrpOutcome {
  return { state, action, detail, failed };
}

function writeVrrpLog(cfg: NodeConfig, o: VrrpOutcome): void {
  appendVrrpLog(cfg, { ...o });
}

/** stateDir/vrrp.log: JSON lines; an outcome has `action`, a step on the way has `step`. */
function appendVrrpLog(cfg: NodeConfig, entry: Record<string, unknown>): void {
  try {
    appendFileSync(
      vrrpLogPath(cfg.repo.stateDir),
      `${JSON.stringify({ time: new Date().toISOString(), node: cfg.node, pid: process.pid, ...entry })}\n`,
    );
  } catch {
    /* the outcome is on stderr too */
  }
}

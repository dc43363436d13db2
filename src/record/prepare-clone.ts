import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { governingPrimary, refuseNotPrimary } from '../node-state/repo-primary.js';
import type { PrimaryRecord } from '../model/primary-file.js';
import { effectiveRole, roleSource } from '../node-state/role-state.js';

export interface PreparedClone {
  /** The local branch head after catching up with the remote (undefined: nothing recorded yet). */
  local?: string;
  remoteHead?: string;
  /** Set when the remote could not be reached: work goes on locally, the push comes later. */
  offline?: GitfailoverError;
  /** The primary the repo names (undefined: the repo was never stamped). */
  role?: PrimaryRecord;
  /** Set when no fetch was made (opts.fetch false, clone even with the last known remote head). */
  unfetched?: boolean;
}

/**
 * What every writer on the primary does first, under the `record` lock (record, revert): check
 * that this node may write at all, fetch (an unreachable remote is not an error: the commit is
 * kept and pushed later), build on the newest history this node can see, and refuse when the
 * repo names another node as primary.
 *
 * With `fetch: false` (the daemon's change path) a clone at the last known remote head builds on
 * it without fetching: the push is a compare-and-swap, and its rejection sends the caller back
 * here with a fetch. A clone with unpushed commits (or none) fetches as ever.
 */
export async function prepareClone(
  cfg: NodeConfig,
  repo: NodeRepo,
  opts: { followRemote?: boolean; fetch?: boolean } = {},
): Promise<PreparedClone> {
  if (!existsSync(cfg.live.dir)) {
    throw new GitfailoverError('E_LIVE_MISSING', `live dir ${cfg.live.dir} does not exist (live.dir in ${cfg.file})`, {
      kind: 'stalling',
    });
  }
  if (effectiveRole(cfg) === 'standby') {
    throw new GitfailoverError(
      'E_NOT_PRIMARY',
      `${cfg.node} is a standby (${roleSource(cfg)}): a standby never records nor pushes configuration. Run "gitfailover promote" to take over.`,
      { kind: 'stalling' },
    );
  }
  await repo.ensure();
  // Under the record lock: lock files a killed git left (the private index's too) would block every write.
  await repo.clearStaleLocks([join(cfg.repo.stateDir, 'index.lock')]);

  let remoteHead: string | undefined;
  let offline: GitfailoverError | undefined;
  let local: string | undefined;
  let unfetched = false;
  if (opts.fetch === false) {
    local = await repo.resolveRef(repo.branchRef);
    remoteHead = await repo.resolveRef(repo.trackingRef);
    unfetched = local !== undefined && local === remoteHead;
  }
  if (!unfetched) {
    try {
      remoteHead = await repo.fetch(cfg.sync.timeout);
    } catch (err) {
      if (!(err instanceof GitfailoverError) || err.kind !== 'waiting') throw err;
      offline = err;
      remoteHead = await repo.resolve(repo.trackingRef);
    }
    local = await repo.resolveRef(repo.branchRef);
  }
  // `record` keeps the branch at what the live dir was applied from and takes the remote's new
  // commits in through the live dir (incoming.ts); moving it here would record the live dir over
  // them and undo them. Only a first use (nothing applied yet) starts from the remote head.
  const follow = opts.followRemote ?? true;
  if (remoteHead && (!local || (follow && local !== remoteHead && (await repo.isAncestor(local, remoteHead))))) {
    await repo.updateRef(repo.branchRef, remoteHead, local ?? '');
    local = remoteHead;
  }

  // The remote's role counts too: a returning former primary's own branch still names itself.
  const governing = await governingPrimary(repo, local, remoteHead);
  const role = governing.record;
  if (role && role.node !== cfg.node) await refuseNotPrimary(cfg, role, governing.commit);
  return { local, remoteHead, offline, role, ...(unfetched ? { unfetched } : {}) };
}

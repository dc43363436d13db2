import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { fireSyncEvents } from '../sync/report.js';
import type { SyncResult } from '../sync/state.js';
import { syncOnce } from '../sync/sync.js';
import { keepOrphan, type KeptOrphan } from '../repo/orphans.js';
import type { PrimaryRecord } from '../model/primary-file.js';
import { fireRoleEvent } from './role-events.js';
import { governingPrimary } from '../node-state/repo-primary.js';
import { effectiveRole, saveRoleOverride } from '../node-state/role-state.js';
import { stopDomains, type DomainAction } from './domains.js';
import { commitUnrecorded, type UnrecordedEdit } from './unrecorded.js';
import { loadState } from '../sync/state.js';

export interface DemoteResult {
  /** The primary the repo names, which this node now follows. */
  primary?: PrimaryRecord;
  orphan?: KeptOrphan;
  /** The full sync that made the live dir the repo's configuration. */
  sync: SyncResult;
  /** A live edit no record took in, kept on the orphan branch before the full sync replaced it. */
  unrecorded?: UnrecordedEdit;
  /** commands.stop (and the loader's stop) for the domains this node no longer serves. */
  stopped: DomainAction[];
  remoteError?: string;
}

/**
 * `gitfailover demote`: this node becomes a standby. Its own commits the remote never got (a
 * record whose push failed, or was rejected because another node took over) are kept on a branch
 * `gitfailover/orphaned/<node>-<time>` (also pushed, when the remote answers), never dropped; its
 * branch then follows the remote; the role switch is written before the full sync so no record
 * can slip in between.
 */
export async function demote(
  cfg: NodeConfig,
  opts: { reason?: string; log?: (line: string) => void } = {},
): Promise<DemoteResult> {
  const log = opts.log ?? (() => {});
  const repo = new NodeRepo(cfg.repo);
  let orphan: KeptOrphan | undefined;
  let primary: PrimaryRecord | undefined;
  let remoteError: string | undefined;
  let unrecorded: UnrecordedEdit | undefined;
  const wasPrimary = effectiveRole(cfg) === 'primary';
  try {
    await withLock(cfg.repo.stateDir, 'record', async () => {
      await repo.ensure();
      if (wasPrimary) {
        // Before anything moves: the live dir as the primary left it, recorded or not, is kept.
        unrecorded = await commitUnrecorded(cfg, repo, await lastRecorded(cfg, repo));
        if (unrecorded) {
          await repo.updateRef(repo.branchRef, unrecorded.commit);
          log(
            `took in an unrecorded live edit (${unrecorded.files.length} file(s): ${unrecorded.files.slice(0, 3).join(', ')}${unrecorded.files.length > 3 ? ', ...' : ''}) as ${unrecorded.commit.slice(0, 12)}`,
          );
        }
      }
      let remoteHead: string | undefined;
      try {
        remoteHead = await repo.fetch(cfg.sync.timeout);
      } catch (err) {
        if (!(err instanceof GitfailoverError) || err.kind !== 'waiting') throw err;
        remoteError = err.message;
        remoteHead = await repo.resolve(repo.trackingRef);
      }
      const local = await repo.resolve(repo.branchRef);
      if (local && local !== remoteHead && !(remoteHead && (await repo.isAncestor(local, remoteHead)))) {
        orphan = await keepOrphan(cfg, repo, local, remoteHead, new Date(), !remoteError);
        log(`kept ${orphan.commits} unpushed commit(s) on ${orphan.branch}${orphan.pushed ? ' (pushed)' : ''}`);
      }
      // The branch follows the remote from now on: nothing can push the kept commits by accident.
      if (remoteHead) await repo.updateRef(repo.branchRef, remoteHead);
      else if (local) await repo.deleteRef(repo.branchRef);
      primary = (await governingPrimary(repo, remoteHead, remoteHead)).record;
      saveRoleOverride(cfg.repo.stateDir, {
        role: 'standby',
        epoch: primary?.epoch ?? 0,
        time: new Date().toISOString(),
        reason: opts.reason ?? (primary ? `follows ${primary.node}` : 'demoted'),
        ...(remoteHead ? { commit: remoteHead } : {}),
      });
      rmSync(join(cfg.repo.stateDir, 'split-brain.json'), { force: true });
    });
  } finally {
    repo.close();
  }
  // A standby serves nothing unless it starts domains after a sync: stop what this node served.
  const stopped =
    wasPrimary || !cfg.sync.startAfterSync
      ? await stopDomains(cfg, loadState(cfg.repo.stateDir).appliedCommit ?? '', log)
      : [];
  // Not an operator's sync: a full sync is this command's job even while automatic sync is on.
  const out = await syncOnce(cfg, { full: true, log });
  await fireSyncEvents(cfg, out, { wait: true });
  await fireRoleEvent(cfg, 'demote', out.result.toCommit, primary?.node ?? '');
  return {
    primary,
    orphan,
    sync: out.result,
    stopped,
    ...(unrecorded ? { unrecorded } : {}),
    ...(remoteError ? { remoteError } : {}),
  };
}

/**
 * The commit whose tree the primary's live dir last matched: the base of its last record
 * (stateDir/index.base, written by record), when the branch still holds it; else the branch head.
 * Not simply the branch head: a refused record (split brain) fast-forwards the branch to commits
 * whose files the live dir never got, which would look like an edit deleting them.
 */
async function lastRecorded(cfg: NodeConfig, repo: NodeRepo): Promise<string | undefined> {
  const head = await repo.resolve(repo.branchRef);
  const file = join(cfg.repo.stateDir, 'index.base');
  const base = existsSync(file) ? readFileSync(file, 'utf8').trim() : '';
  if (!/^[0-9a-f]{40}$/.test(base) || !head) return head;
  return base === head || (await repo.isAncestor(base, head).catch(() => false)) ? base : head;
}

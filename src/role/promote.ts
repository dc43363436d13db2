import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError, errorMessage } from '../errors.js';
import { parseActor } from '../repo/actor.js';
import { parseIpMap, reverseIpMap } from '../render/ip-map.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { loadJournal, loadState } from '../sync/state.js';
import { syncOnce } from '../sync/sync.js';
import type { PrimaryRecord } from '../model/primary-file.js';
import { governingPrimary, primaryAt } from '../node-state/repo-primary.js';
import { roleCommit } from './role-commit.js';
import { effectiveRole, loadRoleOverride, saveRoleOverride } from '../node-state/role-state.js';
import { keepOrphan } from '../repo/orphans.js';
import { clearRoleLost } from '../node-state/role-lost.js';
import { fireRoleEvent } from './role-events.js';
import { readiness } from '../observe/ready.js';
import { startDomains, type DomainAction } from './domains.js';

export interface PromoteOptions {
  reason?: string;
  /** Promote without the remote (production and the remote are both down). */
  offline?: boolean;
  actor?: string;
  /** Take over although readiness fails (drift, quarantine, a failed check or last sync, a missing heartbeat commit). */
  force?: boolean;
  log?: (line: string) => void;
}

export type DomainStart = DomainAction;

export interface PromoteResult {
  commit: string;
  epoch: number;
  previous?: PrimaryRecord;
  pushed: boolean;
  /** Already the repo's primary: only an unpushed role commit was pushed (if any). */
  already?: boolean;
  pushError?: GitfailoverError;
  started: DomainStart[];
  /** This node's own earlier commits the remote never got, kept aside (see demote). */
  orphan?: string;
  /** --force: the readiness checks that failed and were overridden. */
  overridden?: string[];
}

/**
 * `gitfailover promote`: make this standby the repo's one primary.
 *  1. refuse a substitution map that cannot be reversed (records must be in production's terms);
 *  2. finish the pending sync and catch up with the remote head (online), so the live dir the node
 *     will record from is the newest configuration; refuse when that fails;
 *  3. commit `.gitfailover/primary` (epoch + 1) on the applied commit and push it: the remote's
 *     fast-forward rule is the fence, so when another node pushed first this fails and changes nothing;
 *  4. switch the node's role (stateDir/role.json) and start every domain (commands.start).
 */
export async function promote(cfg: NodeConfig, opts: PromoteOptions = {}): Promise<PromoteResult> {
  const log = opts.log ?? (() => {});
  refuseIrreversibleMap(cfg);
  const repo = new NodeRepo(cfg.repo);
  try {
    await repo.ensure();
    if (effectiveRole(cfg) === 'primary') return await alreadyPrimary(cfg, repo, opts);
    const overridden = opts.offline
      ? await readyOffline(cfg, opts, log)
      : await catchUpBeforePromote(cfg, repo, opts, log);
    const done = await commitPromote(cfg, repo, opts, overridden, log);
    const started = await startDomains(cfg, done.commit, log);
    await fireRoleEvent(cfg, 'promote', done.commit);
    return { ...done, started };
  } finally {
    repo.close();
  }
}

/** Step 1: a promoted node records in production's terms, which needs a map that reverses one to one. */
function refuseIrreversibleMap(cfg: NodeConfig): void {
  try {
    reverseIpMap(parseIpMap(cfg.substitution.ips, cfg.file));
  } catch (err) {
    if (!(err instanceof GitfailoverError)) throw err;
    throw new ConfigError(
      `${cfg.file}: promote refused: ${err.message}. A promoted node records its configuration in production's terms, which needs a map that reverses one to one: fix substitution.ips`,
      { file: cfg.file, field: err.location.field ?? 'substitution.ips' },
    );
  }
}

/** Step 2, offline: the readiness verdict, and no interrupted apply that only the remote could finish. */
async function readyOffline(cfg: NodeConfig, opts: PromoteOptions, log: (line: string) => void): Promise<string[]> {
  const overridden = await judgeBeforePromote(cfg, opts, log);
  const journal = loadJournal(cfg.repo.stateDir);
  if (journal) {
    throw new GitfailoverError(
      'E_PROMOTE_PENDING_SYNC',
      `promote refused: an apply to ${journal.target.slice(0, 12)} was interrupted (${cfg.repo.stateDir}/journal.json) and cannot be finished offline; run "gitfailover sync" when the remote answers, or promote without --offline`,
      { kind: 'stalling', location: { commit: journal.target } },
    );
  }
  return overridden;
}

/**
 * Step 2, online: finish the pending sync and catch up with the remote head, refusing when that
 * fails or when another node took over meanwhile. Returns the readiness checks --force overrode.
 */
async function catchUpBeforePromote(
  cfg: NodeConfig,
  repo: NodeRepo,
  opts: PromoteOptions,
  log: (line: string) => void,
): Promise<string[]> {
  // The primary this standby means to take over from: if catching up shows another node took
  // over meanwhile, promoting would silently take the role from it, not from the failed primary.
  const meant = await primaryAt(repo, loadState(cfg.repo.stateDir).appliedCommit);
  // Finishes an interrupted apply first (the journal), then applies what is newer.
  const out = await syncOnce(cfg, { log });
  const r = out.result;
  if (!r.success) {
    const offline = r.errorCode === 'E_REMOTE';
    throw new GitfailoverError(
      offline ? 'E_PROMOTE_REMOTE' : 'E_PROMOTE_PENDING_SYNC',
      offline
        ? `promote refused: ${r.error}. If production and the remote are both down, run "gitfailover promote --offline" (the role change is pushed when the remote returns)`
        : `promote refused: the sync before promoting failed: ${r.error}. The live dir would not be the newest configuration; fix the repo (gitfailover status), then promote again`,
      {
        kind: offline ? 'waiting' : 'stalling',
        location: r.errorCommit ? { commit: r.errorCommit, file: r.errorFile } : {},
      },
    );
  }
  const overridden = await judgeBeforePromote(cfg, opts, log);
  const state = loadState(cfg.repo.stateDir);
  const head = await repo.resolve(repo.trackingRef);
  const now = await primaryAt(repo, state.appliedCommit);
  if (meant && now && now.node !== meant.node && now.node !== cfg.node && now.epoch > meant.epoch) {
    throw new GitfailoverError(
      'E_PROMOTE_FENCED',
      `promote refused: while ${cfg.node} was promoting, ${now.node} became the primary (epoch ${now.epoch}, ${now.time}: ${now.reason}), taking over from ${meant.node}. Nothing was changed; ${cfg.node} stays a standby and follows ${now.node}. Run "gitfailover promote" again only to take the role from ${now.node}`,
      { kind: 'stalling', data: { primary: now } },
    );
  }
  if (head && state.appliedCommit !== head) {
    throw new GitfailoverError(
      'E_PROMOTE_PENDING_SYNC',
      `promote refused: the applied commit ${state.appliedCommit?.slice(0, 12) ?? '(none)'} is not the remote head ${head.slice(0, 12)}${r.error ? ` (${r.error})` : ''}; this node would take over with older configuration. Run "gitfailover status", fix the repo, then promote again`,
      { kind: 'stalling', location: { commit: head } },
    );
  }
  return overridden;
}

/**
 * Steps 3 and 4: under the sync and record locks, commit `.gitfailover/primary` (epoch + 1) on the
 * applied commit, push it (the remote's fast-forward rule is the fence) and switch the role.
 */
async function commitPromote(
  cfg: NodeConfig,
  repo: NodeRepo,
  opts: PromoteOptions,
  overridden: string[],
  log: (line: string) => void,
): Promise<Omit<PromoteResult, 'started'>> {
  const at = new Date();
  const actor = parseActor(opts.actor);
  return withLock(cfg.repo.stateDir, 'sync', () =>
    withLock(cfg.repo.stateDir, 'record', async () => {
      const base = loadState(cfg.repo.stateDir).appliedCommit;
      if (!base) {
        throw new GitfailoverError(
          'E_PROMOTE_NOTHING_APPLIED',
          `promote refused: ${cfg.node} has never applied a commit (${cfg.repo.stateDir}/state.json), so it has no configuration to serve; run "gitfailover sync" first`,
          {
            kind: 'stalling',
          },
        );
      }
      const tracking = await repo.resolve(repo.trackingRef);
      const { record: previous } = await governingPrimary(repo, base, opts.offline ? tracking : base);
      const why = opts.reason ?? (opts.offline ? 'promoted offline' : 'promoted');
      const record: PrimaryRecord = {
        node: cfg.node,
        epoch: (previous?.epoch ?? 0) + 1,
        time: at.toISOString(),
        reason: overridden.length > 0 ? `${why} (--force over: ${overridden.join('; ')})` : why,
      };

      // Commits of an earlier tenure of this node that the remote never got stay on a branch.
      const oldBranch = await repo.resolve(repo.branchRef);
      let orphan: string | undefined;
      if (oldBranch && oldBranch !== base && !(await repo.isAncestor(oldBranch, base)))
        orphan = (await keepOrphan(cfg, repo, oldBranch, base, at, !opts.offline)).branch;

      const commit = await roleCommit(repo, {
        base,
        record,
        previous,
        change: 'promote',
        actor,
        node: cfg.node,
        stateDir: cfg.repo.stateDir,
        signingKey: cfg.record.signingKey,
      });
      await repo.updateRef(repo.branchRef, commit);
      let pushed = false;
      if (!opts.offline) {
        try {
          pushed = (await repo.push(cfg.sync.timeout)).pushed;
        } catch (err) {
          // Nothing of this attempt may stay behind: the role commit goes, the role stays standby.
          if (oldBranch) await repo.updateRef(repo.branchRef, oldBranch);
          else await repo.deleteRef(repo.branchRef);
          throw await fenced(cfg, repo, err);
        }
      }
      clearRoleLost(cfg.repo.stateDir); // whoever promotes has decided the split brain is over
      saveRoleOverride(cfg.repo.stateDir, {
        role: 'primary',
        epoch: record.epoch,
        time: record.time,
        reason: record.reason,
        commit,
        pushed,
      });
      log(
        `${opts.offline ? 'committed (offline, not pushed yet)' : 'pushed'} ${commit.slice(0, 12)} promote ${cfg.node} to primary (epoch ${record.epoch})`,
      );
      return {
        commit,
        epoch: record.epoch,
        previous,
        pushed,
        orphan,
        ...(overridden.length > 0 ? { overridden } : {}),
      };
    }),
  );
}

/** Run again on a promoted node: push a role commit made offline, and say how things stand. */
async function alreadyPrimary(cfg: NodeConfig, repo: NodeRepo, opts: PromoteOptions): Promise<PromoteResult> {
  return withLock(cfg.repo.stateDir, 'record', async () => {
    let remoteHead: string | undefined;
    let remoteError: GitfailoverError | undefined;
    if (!opts.offline) {
      try {
        remoteHead = await repo.fetch(cfg.sync.timeout);
      } catch (err) {
        remoteError =
          err instanceof GitfailoverError
            ? err
            : new GitfailoverError('E_REMOTE', errorMessage(err), { kind: 'waiting' });
      }
    }
    remoteHead ??= await repo.resolve(repo.trackingRef);
    const local = await repo.resolve(repo.branchRef);
    const gov = await governingPrimary(repo, local, remoteHead);
    if (gov.record && gov.record.node !== cfg.node) {
      throw new GitfailoverError(
        'E_NOT_PRIMARY',
        `promote refused: ${cfg.node} already acts as primary, but the repo names ${gov.record.node} (epoch ${gov.record.epoch}): its live dir does not follow the repo. Run "gitfailover demote" here first (its own changes are kept on a branch), then "gitfailover promote"`,
        { kind: 'stalling', data: { primary: gov.record } },
      );
    }
    const override = loadRoleOverride(cfg.repo.stateDir);
    let pushed = false;
    let pushError = remoteError;
    if (!remoteError && !opts.offline && local && local !== remoteHead) {
      try {
        pushed = (await repo.push(cfg.sync.timeout)).pushed;
      } catch (err) {
        pushError =
          err instanceof GitfailoverError
            ? err
            : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting' });
      }
    }
    if (pushed && override) saveRoleOverride(cfg.repo.stateDir, { ...override, pushed: true });
    return {
      commit: override?.commit ?? local ?? '',
      epoch: gov.record?.epoch ?? override?.epoch ?? 0,
      pushed,
      already: true,
      ...(pushError ? { pushError } : {}),
      started: [],
    };
  });
}

/** A failed push of the role commit, said in terms of the fence. */
async function fenced(cfg: NodeConfig, repo: NodeRepo, err: unknown): Promise<GitfailoverError> {
  const e =
    err instanceof GitfailoverError ? err : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting' });
  if (e.code !== 'E_PUSH_REJECTED') {
    return new GitfailoverError(
      'E_PROMOTE_REMOTE',
      `promote refused: the role change could not be pushed (${e.message}); nothing was changed. If production and the remote are both down, run "gitfailover promote --offline"`,
      { kind: 'waiting', cause: err },
    );
  }
  let who = 'another node';
  try {
    const head = await repo.fetch(cfg.sync.timeout);
    const gov = await governingPrimary(repo, head, head);
    if (head && gov.record)
      who = `${gov.record.node} (the repo's primary at ${head.slice(0, 12)}, epoch ${gov.record.epoch})`;
  } catch {
    /* the rejection itself says enough */
  }
  return new GitfailoverError(
    'E_PROMOTE_FENCED',
    `promote refused: ${who} pushed to ${cfg.repo.branch} first, so the remote rejected ${cfg.node}'s role change (the fast-forward rule is the fence against two primaries). Nothing was changed; ${cfg.node} stays a standby. Run "gitfailover sync" and "gitfailover status", then promote again if it should still take over`,
    { kind: 'stalling', cause: err },
  );
}

/**
 * The readiness rule (observe/readiness.ts) before a node takes over: a failed check refuses the
 * promote unless --force, which is said and returned (it goes into the role commit's reason).
 * Drift refused here is what keeps a failover's hand edit from being recorded as production's change.
 */
async function judgeBeforePromote(
  cfg: NodeConfig,
  opts: PromoteOptions,
  log: (line: string) => void,
): Promise<string[]> {
  const r = await readiness(cfg, { fetch: false });
  // The role check is promote's own business (alreadyPrimary); the remote was asked by the catch-up sync.
  const failed = r.checks.filter((c) => c.status === 'fail' && c.name !== 'role');
  if (failed.length === 0) return [];
  const list = failed.map((c) => `${c.name}: ${c.detail}`);
  if (!opts.force) {
    throw new GitfailoverError(
      'E_PROMOTE_NOT_READY',
      `promote refused: ${cfg.node} is not ready to take over (${list.join('; ')}). Nothing was changed. Fix it ("gitfailover ready" lists every check), or run "gitfailover promote --force" to take over anyway${failed.some((c) => c.name === 'drift') ? ': the drifted files would then be recorded as production changes' : ''}`,
      { kind: 'stalling', data: { failed } },
    );
  }
  const behind = failed.find((c) => c.name === 'applied');
  if (behind && !opts.offline) {
    // The role commit must be a fast-forward of the remote head: no flag makes an older configuration the newest.
    throw new GitfailoverError(
      'E_PROMOTE_PENDING_SYNC',
      `promote refused, even with --force: ${behind.detail}. The role commit must build on the remote head; apply it first ("gitfailover sync" applies a quarantined commit by hand once its check passes, or revert it on the remote), then promote`,
      { kind: 'stalling' },
    );
  }
  for (const l of list) log(`--force: overriding ${l}`);
  return list;
}

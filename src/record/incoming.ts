import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import { domainsDirOf } from '../model/layout.js';
import type { Change } from '../model/types.js';
import { changesBetween } from '../repo/changes-between.js';
import type { CommitInfo, NodeRepo } from '../repo/node-repo.js';
import { verifyRange } from '../repo/signatures.js';
import { syncOnce, type SyncOutcome } from '../sync/sync.js';
import { writeCommit } from './commit.js';
import { saveConflict, type ConflictRecord } from './conflicts.js';
import { mergeTrees, type MergeConflict } from './merge.js';
import { commitMessage } from './message.js';

export interface IncomingInput {
  /** the commit the primary applied last (its branch head); the live dir is that plus live edits */
  local: string;
  remoteHead: string;
  /** the live dir as the private index took it in (admitted, in production's terms) */
  liveTree: string;
  actor: { name: string; email: string };
  operatorMessage?: string;
  dryRun?: boolean;
  full?: boolean;
  log?: (line: string) => void;
}

export interface IncomingOutcome {
  /** the branch head afterwards: what the live dir holds */
  head: string;
  /** the commit of the live edits, on top of the remote's commits (undefined: no live edit) */
  commit?: string;
  subject?: string;
  changes: Change[];
  /** commits from the repo this node did not make, now applied */
  incoming: CommitInfo[];
  conflict?: ConflictRecord;
  sync: SyncOutcome;
}

/**
 * The primary takes in commits it did not make (a merged pull request, a pushed revert, a web
 * edit). The live edits are made a commit on the applied head first, then every commit of
 * this node the remote lacks (that one, and any an earlier push did not deliver) is replayed on
 * the remote head file by file (merge.ts), and the result goes into the live dir through the
 * standby's pipeline (check, render, loader, commands, rollback). A live edit that does not
 * merge is pushed to a conflict branch first, so the repo's version wins without anything lost.
 * Nothing moves (branch, state, push) unless the apply succeeded.
 */
export async function applyIncoming(cfg: NodeConfig, repo: NodeRepo, input: IncomingInput): Promise<IncomingOutcome> {
  const { local, remoteHead } = input;
  const domainsDir = domainsDirOf(cfg.live.domains);
  const incoming = await repo.log(`${local}..${remoteHead}`, [], 50);
  if (cfg.repo.verify) {
    // The primary applies only what a standby would: the same signature rule for the new commits.
    await verifyRange(repo, {
      anchor: local,
      target: remoteHead,
      verify: cfg.repo.verify,
      file: cfg.file,
      stateDir: cfg.repo.stateDir,
    });
  }

  // The live dir as a commit on what it was applied from: the conflict branch, and the "from" of the apply.
  const localTree = await repo.treeOf(local);
  let liveCommit = local;
  if (input.liveTree !== localTree) {
    const changes = await changesBetween(repo, localTree, input.liveTree, domainsDir);
    const msg = commitMessage({
      changes,
      operatorMessage: input.operatorMessage,
      actor: input.actor.name,
      node: cfg.node,
    });
    liveCommit = await writeCommit(repo, cfg, input.liveTree, [local], msg, input.actor);
  }

  // Replay this node's commits the remote lacks, oldest first, on the remote head.
  const base = await repo.mergeBase(liveCommit, remoteHead);
  if (!base) {
    throw new GitfailoverError(
      'E_HISTORY_REWRITTEN',
      `${cfg.repo.branch} at ${remoteHead.slice(0, 12)} shares no history with what this primary applied (${local.slice(0, 12)}): the repo's history was replaced. Nothing was applied or recorded; check the remote, then push this node's history back or start the primary from a fresh state dir`,
      { kind: 'stalling', location: { commit: remoteHead } },
    );
  }
  if (base !== local && (await repo.diff(base, local, ['.gitfailover'])).length > 0) {
    // Our unpushed commits switch the role (promote --offline) while the remote moved on: which
    // node is primary is decided by the remote's fast-forward-only push, never by a replay.
    throw new GitfailoverError(
      'E_PUSH_REJECTED',
      `push to ${cfg.repo.branch} was rejected: this node's unpushed commits change the primary (.gitfailover/primary) and the remote has commits this node does not have (another node wrote to the repo). Nothing was forced or applied; run "gitfailover status" and see the failback runbook in the README.`,
      { kind: 'stalling', location: { commit: remoteHead } },
    );
  }
  const ours = await repo.revList(`${base}..${liveCommit}`, { reverse: true, firstParent: true });
  let head = remoteHead;
  let headTree = await repo.treeOf(head);
  const conflicts: MergeConflict[] = [];
  let commit: string | undefined;
  let subject: string | undefined;
  let changes: Change[] = [];
  const indexFile = join(cfg.repo.stateDir, 'merge.index');
  for (const c of ours) {
    const parentTree = await repo.treeOf(`${c}^`);
    const m = await mergeTrees(repo, parentTree, await repo.treeOf(c), headTree, indexFile, domainsDir);
    conflicts.push(...m.conflicts.filter((x) => !conflicts.some((y) => y.path === x.path)));
    if (m.tree === headTree) continue; // nothing of it is left on top of the remote
    if (c === liveCommit && liveCommit !== local) {
      // The live edits, described against the commit they now sit on.
      changes = await changesBetween(repo, headTree, m.tree, domainsDir);
      const msg = commitMessage({
        changes,
        operatorMessage: input.operatorMessage,
        actor: input.actor.name,
        node: cfg.node,
      });
      subject = msg.split('\n')[0];
      head = commit = await writeCommit(repo, cfg, m.tree, [head], msg, input.actor);
    } else {
      // An earlier commit of this node that never reached the remote: same message and author.
      const earlier = await repo.authored(c);
      head = commit = await writeCommit(repo, cfg, m.tree, [head], earlier.message, earlier.author);
      subject = earlier.message.split('\n')[0];
    }
    headTree = m.tree;
  }

  let conflict: ConflictRecord | undefined;
  if (conflicts.length > 0) {
    conflict = await keepLoser(cfg, repo, { liveCommit, remoteHead, conflicts, incoming, dryRun: input.dryRun });
    input.log?.(conflict.text);
  }

  const sync = await syncOnce(
    cfg,
    { primaryApply: { from: liveCommit }, to: head, dryRun: input.dryRun, full: input.full, log: input.log },
    repo,
  );
  if (!sync.result.success) {
    const short = remoteHead.slice(0, 12);
    throw new GitfailoverError(
      'E_INCOMING_FAILED',
      `commit ${short} from ${cfg.repo.branch} could not be applied to this primary's live dir: ${sync.result.error}. Nothing was recorded or pushed and the live dir was left as it was; fix or revert the commit in the repo (check it with "gitfailover validate") and the primary applies the fix`,
      {
        kind: 'stalling',
        location: { commit: sync.result.errorCommit ?? remoteHead, file: sync.result.errorFile },
        data: { conflict, sync: sync.result },
      },
    );
  }
  if (!input.dryRun) {
    await repo.updateRef(repo.branchRef, head, local);
    if (conflict) saveConflict(cfg.repo.stateDir, conflict);
  }
  return { head, commit, subject, changes, incoming, conflict, sync };
}

async function keepLoser(
  cfg: NodeConfig,
  repo: NodeRepo,
  c: { liveCommit: string; remoteHead: string; conflicts: MergeConflict[]; incoming: CommitInfo[]; dryRun?: boolean },
): Promise<ConflictRecord> {
  const time = new Date().toISOString();
  const branch = `gitfailover/conflict/${cfg.node}-${time.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
  const theirs = c.incoming[0];
  let pushed = false;
  if (!c.dryRun) {
    await repo.updateRef(`refs/heads/${branch}`, c.liveCommit);
    // Pushed before anything is applied: if it cannot reach the remote, nothing is applied either.
    await repo.pushRef(`refs/heads/${branch}`, cfg.sync.timeout);
    pushed = true;
  }
  const files = c.conflicts.map((f) => `${f.path} (${f.reason})`).join(', ');
  const text =
    `conflict on ${cfg.node}: the live edit of ${files} does not merge with commit ${c.remoteHead.slice(0, 12)}` +
    `${theirs ? ` ("${theirs.subject}" by ${theirs.author})` : ''} from ${cfg.repo.branch}; the repo's version was applied and the live edit was kept ` +
    `on branch ${branch} (commit ${c.liveCommit.slice(0, 12)}). To keep the live edit, merge that branch into ${cfg.repo.branch} ` +
    `(git fetch origin && git merge origin/${branch}, resolve, push), then delete the branch`;
  return {
    time,
    node: cfg.node,
    branch,
    liveCommit: c.liveCommit,
    incomingCommit: c.remoteHead,
    incomingSubject: theirs?.subject ?? '',
    incomingAuthor: theirs?.author ?? '',
    files: c.conflicts,
    pushed,
    text,
  };
}

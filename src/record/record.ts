import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError, errorMessage } from '../errors.js';
import { domainsDirOf, REPO_ONLY } from '../model/layout.js';
import type { Change } from '../model/types.js';
import { parseActor } from '../repo/actor.js';
import { changesBetween } from '../repo/changes-between.js';
import { withLock } from '../repo/lock.js';
import { pushBranch } from '../repo/push.js';
import { NodeRepo } from '../repo/node-repo.js';
import type { GitIndex } from '../repo/git-index.js';
import { indexedCiphertexts, recordSecrets, secretAddExcludes } from '../secrets/record-secrets.js';
import { admitLive } from './admit-live.js';
import { clearRecordBlocked, saveRecordBlocked } from './blocked.js';
import type { Problem } from '../model/parse.js';
import { formatPrimaryRecord, PRIMARY_FILE } from '../model/primary-file.js';
import { prepareClone } from './prepare-clone.js';
import { applyIncoming, type IncomingOutcome } from './incoming.js';
import { pruneResolvedConflicts, type ConflictRecord } from './conflicts.js';
import { toProductionTerms } from './production-terms.js';
import { commitMessage } from './message.js';
import { writeCommit } from './commit.js';
import type { Progress } from '../util/progress.js';

export interface RecordOptions {
  /** `-m`: the operator's own words, added to the generated message. */
  message?: string;
  /** `--actor`: who made the change ("Name" or "Name <email>"). */
  actor?: string;
  /** Skip the push (the daemon pushes itself, with backoff). */
  push?: boolean;
  log?: (line: string) => void;
  /** Domains taken in so far: a first record of thousands shows it on a TTY (`record`). */
  progress?: Progress;
  /** `sync --dry-run` on the primary: show what taking in the remote's commits would change; change nothing. */
  dryRun?: boolean;
  /** `sync --full` on the primary: reload every domain while taking in the remote's commits. */
  full?: boolean;
  /** A daemon's own clone, kept between records (its kept-open readers with it); left open. */
  repo?: NodeRepo;
}

export interface RecordResult {
  /** The new commit; undefined when the live dir had no change. */
  commit?: string;
  subject?: string;
  changes: Change[];
  pushed: boolean;
  /** What a push that went through moved the remote branch from and to, and the commits it carried. */
  pushedRange?: { from?: string; to: string; count: number };
  /** Commits in the node's clone that the remote does not have yet. */
  unpushed: number;
  pushError?: GitfailoverError;
  warnings: string[];
  /** Commits from the remote this node did not make, applied to the live dir first (incoming.ts). */
  incoming?: IncomingOutcome;
  /** Set when a live edit did not merge with them: it is on a conflict branch, the command exits 1. */
  conflict?: ConflictRecord;
}

/** A push that loses a race with another clone is retried on the new head this many times. */
const RACE_ATTEMPTS = 5;

/**
 * `record`: take the live dir into the node's clone as one commit and push it.
 * The commit is made without touching the live dir: a private index (stateDir/index) with the
 * live dir as work tree, so git's stat cache keeps a one-file change cheap however many domains there are.
 */
export async function record(cfg: NodeConfig, opts: RecordOptions = {}): Promise<RecordResult> {
  const repo = opts.repo ?? new NodeRepo(cfg.repo);
  try {
    let earlier: RecordResult | undefined;
    for (let attempt = 1; ; attempt++) {
      const r = await withLock(cfg.repo.stateDir, 'record', async () => {
        const out = await recordLocked(cfg, repo, opts);
        if (!opts.dryRun) await pruneResolvedConflicts(cfg.repo.stateDir, repo, repo.branchRef, cfg.sync.timeout);
        return out;
      });
      if (earlier) {
        // The commit of the first attempt, replayed on the new head, is the one reported.
        r.changes = r.changes.length > 0 ? r.changes : earlier.changes;
        r.subject ??= earlier.subject;
        r.commit ??= earlier.commit && r.incoming ? r.incoming.commit : undefined;
        r.conflict ??= earlier.conflict;
        r.warnings.unshift(...earlier.warnings);
      }
      // Another clone pushed between this fetch and this push: take its commits in, record on top, push again.
      if (r.pushError?.code !== 'E_PUSH_REJECTED' || attempt >= RACE_ATTEMPTS) return r;
      opts.log?.(`push rejected: ${cfg.repo.branch} moved on; taking in the new commits and pushing again`);
      earlier = r;
    }
  } finally {
    if (!opts.repo) repo.close();
  }
}

async function recordLocked(cfg: NodeConfig, repo: NodeRepo, opts: RecordOptions): Promise<RecordResult> {
  const warnings: string[] = [];
  const { local, remoteHead, offline, role } = await prepareClone(cfg, repo, { followRemote: false });
  writeExcludes(repo.gitDir, cfg.live.exclude);

  const index = repo.index(join(cfg.repo.stateDir, 'index'));
  const basePath = join(cfg.repo.stateDir, 'index.base');
  const indexBase = existsSync(basePath) ? readFileSync(basePath, 'utf8').trim() : '';
  if (indexBase !== (local ?? 'none') || !existsSync(index.file)) {
    await index.readTree(local);
    writeFileSync(basePath, local ?? 'none');
  }
  // Declared secrets never pass through git add: recordSecrets stages their ciphertext alone.
  const ciphertexts = await indexedCiphertexts(index);
  const secretExcludes = await secretAddExcludes(index, cfg, ciphertexts);
  // The admission rules first, on the live dir itself: a refused record hashes nothing into the
  // object store and stages nothing (the index is as it was); an oversized file is left out.
  let admitted: Awaited<ReturnType<typeof admitLive>>;
  try {
    admitted = await admitLive(index, cfg, secretExcludes);
  } catch (err) {
    if (err instanceof GitfailoverError && Array.isArray(err.data.problems))
      saveRecordBlocked(cfg.repo.stateDir, err.data.problems as Problem[]);
    throw err;
  }
  clearRecordBlocked(cfg.repo.stateDir);
  warnings.push(...admitted.warnings);
  const leftOut = admitted.leftOut.map((l) => `:(top,exclude,literal)${l.path}`);
  if (opts.progress) await addByDomain(index, cfg, opts.progress, [...leftOut, ...secretExcludes]);
  await index.addAll(cfg.live.dir, ['.', ...REPO_ONLY.map((p) => `:(top,exclude)${p}`), ...leftOut, ...secretExcludes]);
  const secrets = await recordSecrets(repo, index, cfg, local, ciphertexts);
  warnings.push(...secrets.warnings);
  if (!role) await stampPrimary(index, cfg);
  warnings.push(...(await toProductionTerms(repo, index, cfg, local)));

  const tree = await index.writeTree();
  const baseTree = await repo.treeOf(local);
  let commit: string | undefined;
  let subject: string | undefined;
  let changes: Change[] = [];
  let incoming: IncomingOutcome | undefined;
  if (local && remoteHead && !offline && !(await repo.isAncestor(remoteHead, local))) {
    // The remote has commits this node did not make: into the live dir first, live edits on top.
    incoming = await applyIncoming(cfg, repo, {
      local,
      remoteHead,
      liveTree: tree,
      actor: parseActor(opts.actor),
      operatorMessage: opts.message,
      dryRun: opts.dryRun,
      full: opts.full,
      log: opts.log,
    });
    ({ commit, subject, changes } = incoming);
    if (opts.dryRun)
      return { commit, subject, changes, pushed: false, unpushed: 0, warnings, incoming, conflict: incoming.conflict };
    if (commit) opts.log?.(`recorded ${commit.slice(0, 12)} ${subject}`);
  } else if (opts.dryRun) {
    return {
      changes: tree !== baseTree ? await changesBetween(repo, baseTree, tree, domainsDirOf(cfg.live.domains)) : [],
      pushed: false,
      unpushed: 0,
      warnings,
    };
  } else if (tree !== baseTree) {
    changes = await changesBetween(repo, baseTree, tree, domainsDirOf(cfg.live.domains));
    const actor = parseActor(opts.actor);
    let msg = commitMessage({
      changes,
      operatorMessage: opts.message,
      actor: actor.name,
      node: cfg.node,
      firstRecord: !local,
    });
    if (secrets.trailer) msg += `${secrets.trailer}\n`;
    subject = msg.split('\n')[0];
    commit = await writeCommit(repo, cfg, tree, local ? [local] : [], msg, actor);
    await repo.updateRef(repo.branchRef, commit, local ?? '');
    writeFileSync(basePath, commit);
    opts.log?.(`recorded ${commit.slice(0, 12)} ${subject}`);
  }

  const head = incoming?.head ?? commit ?? local;
  // A new commit straight on the remote head is the one commit ahead: no process to count it.
  const oneAhead = commit !== undefined && head === commit && local !== undefined && local === remoteHead;
  const push = await pushRecorded(cfg, repo, opts, { head, remoteHead, offline, oneAhead });
  return { commit, subject, changes, ...push, warnings, incoming, conflict: incoming?.conflict };
}

/** The push at the end of a record (unless opts.push is false), and what is left unpushed. */
async function pushRecorded(
  cfg: NodeConfig,
  repo: NodeRepo,
  opts: RecordOptions,
  at: { head?: string; remoteHead?: string; offline?: GitfailoverError; oneAhead: boolean },
): Promise<Pick<RecordResult, 'pushed' | 'pushedRange' | 'unpushed' | 'pushError'>> {
  const { head, remoteHead, offline, oneAhead } = at;
  let pushed = false;
  let pushError: GitfailoverError | undefined = offline;
  let pushedCount = 0;
  if (opts.push !== false && !offline && head && head !== remoteHead) {
    try {
      pushedCount = oneAhead ? 1 : await repo.count(remoteHead, head);
      pushed = (await pushBranch(repo, cfg.sync.timeout, head)).pushed;
    } catch (err) {
      pushError =
        err instanceof GitfailoverError ? err : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting' });
    }
  }
  // A push that went through left the tracking ref at head.
  const unpushed =
    !head || pushed || head === remoteHead
      ? 0
      : oneAhead
        ? 1
        : await repo.count(await repo.resolve(repo.trackingRef), head);
  return {
    pushed,
    ...(pushed && head ? { pushedRange: { from: remoteHead, to: head, count: pushedCount } } : {}),
    unpushed,
    pushError,
  };
}

/** live.exclude plus what is never configuration, as gitignore patterns of the private index. */
export function writeExcludes(gitDir: string, exclude: string[]): void {
  const dir = join(gitDir, 'info');
  mkdirSync(dir, { recursive: true });
  // .gitfailover itself stays out through the REPO_ONLY pathspecs: as an ignore rule too, git add would fail on it ("paths are ignored").
  const lines = ['# written by gitfailover from live.exclude', '/.gitfailover-*', ...exclude];
  writeFileSync(join(dir, 'exclude'), `${lines.join('\n')}\n`);
}

async function stampPrimary(index: GitIndex, cfg: NodeConfig): Promise<void> {
  const text = formatPrimaryRecord({
    node: cfg.node,
    epoch: 1,
    time: new Date().toISOString(),
    reason: 'first record',
  });
  await index.hashAndStage(PRIMARY_FILE, text);
}

/**
 * Only with a progress callback: stage the domains a batch at a time first, so progress can be
 * told; the whole-tree `git add` after it then finds them staged (git's stat cache) and is quick.
 * Without one, the single `git add` is the cheapest path.
 */
async function addByDomain(
  index: GitIndex,
  cfg: NodeConfig,
  progress: Progress,
  exclude: readonly string[],
): Promise<void> {
  const dir = domainsDirOf(cfg.live.domains);
  const root = join(cfg.live.dir, dir);
  if (!existsSync(root)) return;
  const domains = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name);
  const BATCH = 250;
  for (let i = 0; i < domains.length; i += BATCH) {
    progress(i, domains.length);
    const batch = domains.slice(i, i + BATCH).map((d) => `:(literal)${dir}/${d}`);
    await index.addPathspecs(cfg.live.dir, [...batch, ...exclude]);
  }
  progress(domains.length, domains.length);
}

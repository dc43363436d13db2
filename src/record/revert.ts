import { isSecretPath, plainPathOf } from '../model/secret-paths.js';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError, errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import { describeChange } from '../model/describe.js';
import { classifyPath, domainsDirOf } from '../model/layout.js';
import type { Change } from '../model/types.js';
import { changesBetween } from '../repo/changes-between.js';
import { withLock } from '../repo/lock.js';
import { nodeCommitter } from '../repo/commit-tree.js';
import { EMPTY_TREE, NodeRepo, type DiffEntry } from '../repo/node-repo.js';
import { redact } from '../util/redact.js';
import { writeFileAtomic } from '../util/atomic.js';
import { pushBranch } from '../repo/push.js';
import { parseActor } from '../repo/actor.js';
import { prepareClone } from './prepare-clone.js';
import { writeCommit } from './commit.js';

export interface RevertOptions {
  actor?: string;
  /** the operator's own words, added to the message */
  message?: string;
  /** false: commit only (tests, or an operator who pushes later) */
  push?: boolean;
  log?: (line: string) => void;
}

export interface DomainCommandResult {
  domain?: string;
  action: 'load' | 'delete' | 'reload';
  ok: boolean;
  error?: string;
}

export interface RevertResult {
  /** the commit that was undone */
  reverted: string;
  revertedSubject: string;
  /** the new commit; undefined when the change was already undone (nothing to do) */
  commit?: string;
  subject?: string;
  changes: Change[];
  /** live-dir paths written or deleted */
  files: { path: string; action: 'write' | 'delete' }[];
  commands: DomainCommandResult[];
  pushed: boolean;
  unpushed: number;
  pushError?: GitfailoverError;
}

/** What git accepts as a revision here: no option-looking or ranged arguments. */
const REV = /^[A-Za-z0-9][A-Za-z0-9._/^~@{}-]*$/;

/**
 * `gitfailover revert <commit>`: undo one recorded commit on the primary.
 *
 * The revert is computed without a work tree: a scratch commit whose tree is the reverted
 * commit's parent and whose parent is the reverted commit, merged into the head with
 * `git merge-tree --write-tree` (git >= 2.38). The merge base is then the reverted commit, so
 * the merge is exactly "head minus that commit" — what `git revert` does — and a conflict leaves
 * nothing behind but unreachable objects: no ref, index or file changes.
 *
 * Then, holding the same lock as `record` (so the watcher's record cannot interleave): the files
 * the revert changed are written into the live dir (atomically) before the branch moves, so a
 * crash in between is recorded by the next record rather than undone by it; the private index
 * and its base follow the new commit; the domains it touched are reloaded; the commit is pushed.
 */
export async function revert(cfg: NodeConfig, rev: string, opts: RevertOptions = {}): Promise<RevertResult> {
  if (!REV.test(rev))
    throw new ConfigError(`${JSON.stringify(rev)} is not a commit: give a commit id as shown by "gitfailover log"`, {
      field: 'commit',
    });
  const repo = new NodeRepo(cfg.repo);
  try {
    return await withLock(cfg.repo.stateDir, 'record', () => revertLocked(cfg, repo, rev, opts));
  } finally {
    repo.close();
  }
}

async function revertLocked(cfg: NodeConfig, repo: NodeRepo, rev: string, opts: RevertOptions): Promise<RevertResult> {
  const { local, offline, target, info, parents } = await revertTarget(cfg, repo, rev);
  const short = target.slice(0, 12);
  const newTree = await mergeRevert(cfg, repo, local, target, parents, info.subject);
  const headTree = await repo.treeOf(local);
  const diff = await repo.diff(headTree, newTree);
  const base: RevertResult = {
    reverted: target,
    revertedSubject: info.subject,
    changes: [],
    files: [],
    commands: [],
    pushed: false,
    unpushed: 0,
  };
  if (diff.length === 0) {
    opts.log?.(`nothing to revert: the changes of ${short} are already undone in ${local.slice(0, 12)}`);
    return { ...base, unpushed: await repo.count(await repo.resolve(repo.trackingRef), local) };
  }
  await refuseRevertDiff(cfg, repo, diff, target, local);
  return commitRevert(cfg, repo, { base, local, offline, target, info, headTree, newTree, diff }, opts);
}

/** The clone up to date with the remote, and the commit to revert: in the branch's history, not a merge. */
async function revertTarget(cfg: NodeConfig, repo: NodeRepo, rev: string) {
  const prepared = await prepareClone(cfg, repo, { followRemote: false });
  const { offline } = prepared;
  const local = prepared.local;
  if (!local) {
    throw new GitfailoverError(
      'E_REVERT_EMPTY',
      `nothing has been recorded in ${redact(cfg.repo.remote)} yet: there is no commit to revert`,
      { kind: 'stalling' },
    );
  }
  if (prepared.remoteHead && !(await repo.isAncestor(prepared.remoteHead, local))) {
    // The revert is written into the live dir on top of what it holds: that must be the repo's head first.
    throw new GitfailoverError(
      'E_REVERT_BEHIND',
      `${cfg.repo.branch} has commits this primary has not applied yet (up to ${prepared.remoteHead.slice(0, 12)}): run "gitfailover sync" first (or let the primary daemon take them in), then revert. Nothing was changed`,
      { kind: 'stalling', location: { commit: prepared.remoteHead } },
    );
  }

  const target = await repo.resolve(rev);
  if (!target) {
    throw new GitfailoverError(
      'E_REVERT_UNKNOWN',
      `commit ${rev} is not in this node's clone of ${redact(cfg.repo.remote)}: see "gitfailover log" for the commits`,
      {
        kind: 'stalling',
        location: { commit: rev },
      },
    );
  }
  const short = target.slice(0, 12);
  const info = await repo.commitInfo(target);
  if (!(await repo.isAncestor(target, local))) {
    throw new GitfailoverError(
      'E_REVERT_NOT_IN_HISTORY',
      `commit ${short} is not in the history of ${cfg.repo.branch}: only commits of the recorded history can be reverted`,
      {
        kind: 'stalling',
        location: { commit: target },
      },
    );
  }
  const parents = await repo.parentsOf(target);
  if (parents.length > 1) {
    throw new GitfailoverError(
      'E_REVERT_MERGE',
      `commit ${short} is a merge: revert the commits it merged one by one instead`,
      {
        kind: 'stalling',
        location: { commit: target },
      },
    );
  }
  return { local, offline, target, info, parents };
}

/**
 * "head minus target" as a tree: the scratch commit (target's parent's tree as a child of target)
 * merged into the head; a conflict is refused and leaves no ref, index or file changed.
 */
async function mergeRevert(
  cfg: NodeConfig,
  repo: NodeRepo,
  local: string,
  target: string,
  parents: string[],
  subject: string,
): Promise<string> {
  const short = target.slice(0, 12);
  const parentTree = parents[0] ? await repo.treeOf(parents[0]) : EMPTY_TREE;

  // The scratch commit: "the state before target", as a child of target (see the doc comment).
  const scratch = await repo.commitTree({
    tree: parentTree,
    parents: [target],
    message: `gitfailover: scratch for reverting ${target}\n`,
    author: nodeCommitter(cfg.node),
    committer: nodeCommitter(cfg.node),
  });
  const merged = await repo.mergeTree(local, scratch);
  if (merged.conflicts) {
    const files = merged.conflicts;
    throw new GitfailoverError(
      'E_REVERT_CONFLICT',
      `cannot revert ${short} ("${subject}"): later commits changed the same part of ${files.join(', ')}. Nothing was changed or pushed. Revert the later commits first, or edit the live dir by hand and run "gitfailover record".`,
      { kind: 'stalling', location: { commit: target, file: files[0] }, data: { commit: target, files } },
    );
  }
  return merged.tree.trim();
}

type TreeDiff = Awaited<ReturnType<NodeRepo['diff']>>;

/** What revert cannot write back: the repo's metadata, secrets, files that are not regular, unrecorded edits. */
async function refuseRevertDiff(
  cfg: NodeConfig,
  repo: NodeRepo,
  diff: TreeDiff,
  target: string,
  local: string,
): Promise<void> {
  const short = target.slice(0, 12);
  const meta = diff.filter((d) => classifyPath(d.path).kind === 'meta');
  if (meta.length > 0) {
    throw new GitfailoverError(
      'E_REVERT_META',
      `commit ${short} changed the repo's own metadata (${meta.map((d) => d.path).join(', ')}): a role change is undone with "gitfailover promote"/"demote", not revert`,
      { kind: 'stalling', location: { commit: target, file: meta[0]!.path } },
    );
  }
  // A revert writes blobs into the live dir: for a secret that would be its ciphertext, not the key.
  const sealed = diff.filter((d) => isSecretPath(d.path));
  if (sealed.length > 0) {
    throw new GitfailoverError(
      'E_REVERT_SECRET',
      `commit ${short} changed the secret ${plainPathOf(sealed[0]!.path)}, which revert cannot write back (the repo holds only its ciphertext): put the old file back into the live dir and record, or revert a commit that touches no secret. Nothing was changed`,
      { kind: 'stalling', location: { commit: target, file: sealed[0]!.path } },
    );
  }
  const odd = diff.filter((d) => d.status !== 'D' && !['100644', '100755'].includes(d.newMode));
  if (odd.length > 0) {
    throw new GitfailoverError(
      'E_REVERT_FILE_TYPE',
      `reverting ${short} would create ${odd.map((d) => d.path).join(', ')}, which is not a regular file (mode ${odd[0]!.newMode}): gitfailover writes regular files only`,
      {
        kind: 'stalling',
        location: { commit: target, file: odd[0]!.path },
      },
    );
  }
  await refuseUnrecordedEdits(cfg, repo, diff, local);
}

/** The revert commit, written into the live dir before the branch moves, its domains reloaded, pushed. */
async function commitRevert(
  cfg: NodeConfig,
  repo: NodeRepo,
  r: {
    base: RevertResult;
    local: string;
    offline: GitfailoverError | undefined;
    target: string;
    info: { subject: string };
    headTree: string;
    newTree: string;
    diff: TreeDiff;
  },
  opts: RevertOptions,
): Promise<RevertResult> {
  const { base, local, offline, target, info, headTree, newTree, diff } = r;
  const short = target.slice(0, 12);
  const domainsDir = domainsDirOf(cfg.live.domains);
  const changes = await changesBetween(repo, headTree, newTree, domainsDir);
  const actor = parseActor(opts.actor);
  const msg = revertMessage({
    commit: target,
    subject: info.subject,
    changes,
    actor: actor.name,
    node: cfg.node,
    operatorMessage: opts.message,
  });
  const subject = msg.split('\n')[0]!;
  const commit = await writeCommit(repo, cfg, newTree, [local], msg, actor);

  const files = await writeLive(cfg, repo, diff);
  await repo.updateRef(repo.branchRef, commit, local);
  await syncIndex(cfg, repo, commit);
  opts.log?.(`reverted ${short} as ${commit.slice(0, 12)} ${subject}`);

  const commands = await runDomainCommands(cfg, diff, newTree, repo, commit, domainsDir);

  let pushed = false;
  let pushError = offline;
  if (opts.push !== false && !offline) {
    try {
      pushed = (await pushBranch(repo, cfg.sync.timeout)).pushed;
    } catch (err) {
      pushError =
        err instanceof GitfailoverError ? err : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting' });
    }
  }
  const unpushed = await repo.count(await repo.resolve(repo.trackingRef), commit);
  return { ...base, commit, subject, changes, files, commands, pushed, unpushed, pushError };
}

export function revertMessage(m: {
  commit: string;
  subject: string;
  changes: Change[];
  actor: string;
  node: string;
  operatorMessage?: string;
}): string {
  const parts = [`Revert "${m.subject}"`, `This reverts commit ${m.commit}.`];
  if (m.operatorMessage?.trim()) parts.push(m.operatorMessage.trim());
  if (m.changes.length > 0) parts.push(['Changes:', ...m.changes.map((c) => `- ${describeChange(c)}`)].join('\n'));
  parts.push(`Changed-By: ${m.actor}\nNode: ${m.node}`);
  return `${parts.join('\n\n')}\n`;
}

/**
 * The revert overwrites live files with the head's history in mind; an edit in the live dir
 * that was not recorded yet would be lost without a trace. Refuse instead, naming the files.
 */
async function refuseUnrecordedEdits(cfg: NodeConfig, repo: NodeRepo, diff: DiffEntry[], head: string): Promise<void> {
  const present: { path: string; oid: string }[] = [];
  const differing: string[] = [];
  for (const d of diff) {
    const abs = join(cfg.live.dir, d.path);
    let exists = false;
    try {
      exists = lstatSync(abs).isFile();
    } catch {
      /* absent */
    }
    const inHead = d.status !== 'A';
    if (exists && inHead) present.push({ path: abs, oid: d.oldOid });
    else if (exists !== inHead) differing.push(d.path);
  }
  if (present.length > 0) {
    const oids = await repo.hashFiles(
      present.map((p) => p.path),
      { write: false },
    );
    oids.forEach((oid, i) => {
      if (i < present.length && oid.trim() !== present[i]!.oid)
        differing.push(present[i]!.path.slice(cfg.live.dir.length + 1));
    });
  }
  if (differing.length > 0) {
    throw new GitfailoverError(
      'E_REVERT_UNRECORDED',
      `the live dir ${cfg.live.dir} has changes to ${differing.join(', ')} that are not recorded in ${head.slice(0, 12)}: run "gitfailover record" first (or let the primary daemon record them), then revert`,
      { kind: 'waiting', location: { file: differing[0] }, data: { files: differing } },
    );
  }
}

/** Each file the revert changed, atomically; removed files are deleted with the folders they leave empty. */
async function writeLive(
  cfg: NodeConfig,
  repo: NodeRepo,
  diff: DiffEntry[],
): Promise<{ path: string; action: 'write' | 'delete' }[]> {
  const out: { path: string; action: 'write' | 'delete' }[] = [];
  for (const d of diff) {
    const abs = join(cfg.live.dir, d.path);
    if (d.status === 'D') {
      rmSync(abs, { force: true });
      pruneEmptyDirs(dirname(abs), cfg.live.dir);
      out.push({ path: d.path, action: 'delete' });
      continue;
    }
    const blob = await repo.blobs.readBlob(d.newOid);
    if (!blob)
      throw new GitfailoverError(
        'E_REVERT_BLOB',
        `blob ${d.newOid} of ${d.path} is missing from the clone in ${cfg.repo.stateDir}`,
        { kind: 'stalling', location: { file: d.path } },
      );
    mkdirSync(dirname(abs), { recursive: true });
    writeFileAtomic(abs, blob, { fsync: true, mode: d.newMode === '100755' ? 0o755 : 0o644 });
    out.push({ path: d.path, action: 'write' });
  }
  return out;
}

function pruneEmptyDirs(dir: string, root: string): void {
  while (dir.startsWith(`${root}/`) && dir !== root) {
    try {
      if (readdirSync(dir).length > 0) return;
      rmdirSync(dir);
    } catch {
      return;
    }
    dir = dirname(dir);
  }
}

/**
 * The private index must describe the new commit, or the next record would diff the live dir
 * against the old head and undo the revert. `read-tree -m` keeps the stat cache of the files the
 * revert did not touch, so the next record does not rehash the whole live dir.
 */
async function syncIndex(cfg: NodeConfig, repo: NodeRepo, commit: string): Promise<void> {
  const index = repo.index(join(cfg.repo.stateDir, 'index'));
  const basePath = join(cfg.repo.stateDir, 'index.base');
  const merged = existsSync(index.file) && existsSync(basePath) && readFileSync(basePath, 'utf8').trim() !== 'none';
  try {
    await index.readTree(commit, { merge: merged });
  } catch {
    await index.readTree(commit);
  }
  writeFileSync(basePath, commit);
}

/** The node's own server takes the reverted configuration: load what is still there, delete what is gone. */
async function runDomainCommands(
  cfg: NodeConfig,
  diff: DiffEntry[],
  newTree: string,
  repo: NodeRepo,
  commit: string,
  domainsDir: string,
): Promise<DomainCommandResult[]> {
  const domains = new Set<string>();
  let global = false;
  for (const d of diff) {
    const c = classifyPath(d.path, domainsDir);
    if (c.kind === 'domain') domains.add(c.domain);
    else global = true;
  }
  const results: DomainCommandResult[] = [];
  const run = async (action: 'load' | 'delete' | 'reload', domain?: string) => {
    const argv = cfg.commands[action];
    if (!argv) return;
    try {
      await runCommand(argv, {
        action,
        node: cfg.node,
        commit,
        domain,
        dir: domain ? join(cfg.live.dir, domainsDir, domain) : cfg.live.dir,
        timeoutMs: cfg.commands.timeout,
      });
      results.push({ domain, action, ok: true });
    } catch (err) {
      results.push({ domain, action, ok: false, error: errorMessage(err) });
    }
  };
  for (const domain of [...domains].sort()) {
    const still = (await repo.lsTree(newTree, [`${domainsDir}/${domain}`], false)).length > 0;
    await run(still ? 'load' : 'delete', domain);
  }
  if (global) await run('reload');
  return results;
}

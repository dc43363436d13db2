import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { REPO_ONLY } from '../model/layout.js';
import { toProductionTerms } from '../record/production-terms.js';
import { writeExcludes } from '../record/record.js';
import { admitLive } from '../record/admit-live.js';
import { secretAddExcludes } from '../secrets/record-secrets.js';
import { nodeCommitter } from '../repo/commit-tree.js';
import type { NodeRepo } from '../repo/node-repo.js';

export interface UnrecordedEdit {
  /** A commit on top of `local` holding the live dir as it is (in production's terms). */
  commit: string;
  /** Paths that differ from `local`. */
  files: string[];
}

/**
 * A primary's live-dir edit that no record took in yet, as a commit on top of its last recorded
 * commit `local`, so that demote can keep it (on the orphan branch) before the full sync replaces
 * the live dir. Built like a record (a private index, live.exclude, production's terms, no
 * oversized file, no secret) but without record's catch-up and primary check: a demoted node may
 * no longer be the repo's primary, and its edit must survive anyway. undefined: nothing unrecorded.
 */
export async function commitUnrecorded(
  cfg: NodeConfig,
  repo: NodeRepo,
  local: string | undefined,
): Promise<UnrecordedEdit | undefined> {
  if (!existsSync(cfg.live.dir)) return undefined;
  const index = repo.index(join(cfg.repo.stateDir, 'demote-index'));
  rmSync(index.file, { force: true });
  try {
    await index.readTree(local);
    writeExcludes(repo.gitDir, cfg.live.exclude);
    // The record gate's rules (admit-live.ts): the orphan branch is pushed, so nothing a standby
    // would refuse, no secret in clear and no oversized file reaches the remote this way either.
    const secretExcludes = await secretAddExcludes(index, cfg);
    const admitted = await admitLive(index, cfg, secretExcludes);
    const leftOut = admitted.leftOut.map((l) => `:(top,exclude,literal)${l.path}`);
    await index.addAll(cfg.live.dir, [
      '.',
      ...REPO_ONLY.map((p) => `:(top,exclude)${p}`),
      ...leftOut,
      ...secretExcludes,
    ]);
    await toProductionTerms(repo, index, cfg, local);
    const tree = await index.writeTree();
    if (tree === (await repo.treeOf(local))) return undefined;
    const files = await repo.diffNames(local, tree);
    const msg = `unrecorded live edit on ${cfg.node}, kept by demote\n\n${files.map((f) => `  ${f}`).join('\n')}\n\nNode: ${cfg.node}\n`;
    const who = nodeCommitter(cfg.node);
    const commit = await repo.commitTree({
      tree,
      parents: local ? [local] : [],
      message: msg,
      author: who,
      committer: who,
    });
    return { commit, files };
  } finally {
    rmSync(index.file, { force: true });
  }
}

import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { REPO_ONLY } from '../model/layout.js';
import { toProductionTerms } from '../record/production-terms.js';
import { writeExcludes } from '../record/record.js';
import { admitLive } from '../record/admit-live.js';
import { secretAddExcludes } from '../secrets/record-secrets.js';
import { EMPTY_TREE } from '../repo/git.js';
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
  const index = join(cfg.repo.stateDir, 'demote-index');
  const env = { GIT_INDEX_FILE: index };
  rmSync(index, { force: true });
  try {
    await repo.git(local ? ['read-tree', local] : ['read-tree', '--empty'], { env });
    writeExcludes(repo.gitDir, cfg.live.exclude);
    // The record gate's rules (admit-live.ts): the orphan branch is pushed, so nothing a standby
    // would refuse, no secret in clear and no oversized file reaches the remote this way either.
    const secretExcludes = await secretAddExcludes(repo, cfg, env);
    const admitted = await admitLive(repo, cfg, env, secretExcludes);
    const leftOut = admitted.leftOut.map((l) => `:(top,exclude,literal)${l.path}`);
    await repo.git(
      ['add', '-A', '--', '.', ...REPO_ONLY.map((p) => `:(top,exclude)${p}`), ...leftOut, ...secretExcludes],
      { env, workTree: cfg.live.dir },
    );
    await toProductionTerms(repo, cfg, local, env);
    const tree = (await repo.git(['write-tree'], { env })).stdout.trim();
    if (tree === (await repo.treeOf(local))) return undefined;
    const files = (await repo.git(['diff-tree', '-r', '--name-only', '--no-renames', local ?? EMPTY_TREE, tree])).stdout
      .split('\n')
      .filter(Boolean);
    const msg = `unrecorded live edit on ${cfg.node}, kept by demote\n\n${files.map((f) => `  ${f}`).join('\n')}\n\nNode: ${cfg.node}\n`;
    const who = {
      GIT_AUTHOR_NAME: `gitfailover (${cfg.node})`,
      GIT_AUTHOR_EMAIL: `gitfailover@${cfg.node}`,
      GIT_COMMITTER_NAME: `gitfailover (${cfg.node})`,
      GIT_COMMITTER_EMAIL: `gitfailover@${cfg.node}`,
    };
    const commit = (
      await repo.git(['commit-tree', tree, ...(local ? ['-p', local] : []), '-F', '-'], { input: msg, env: who })
    ).stdout.trim();
    return { commit, files };
  } finally {
    rmSync(index, { force: true });
  }
}

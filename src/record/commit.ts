import type { NodeConfig } from '../config/load.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { nodeCommitter } from '../repo/commit-tree.js';

export interface CommitAuthor {
  name: string;
  email: string;
  /** ISO date; now when not given. */
  date?: string;
}

/**
 * One commit of `tree` on `parents`, as the primary writes them: the author is who made the
 * change, the committer this node (`gitfailover (<node>)`), signed with record.signingKey.
 */
export async function writeCommit(
  repo: NodeRepo,
  cfg: NodeConfig,
  tree: string,
  parents: string[],
  message: string,
  author: CommitAuthor,
): Promise<string> {
  return repo.commitTree({
    tree,
    parents,
    message,
    author,
    committer: nodeCommitter(cfg.node),
    signingKey: cfg.record.signingKey,
  });
}

import type { NodeConfig } from '../config/load.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { signingArgs } from '../repo/signatures.js';

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
  const sign = signingArgs(cfg.record.signingKey);
  const r = await repo.git(
    [...sign.config, 'commit-tree', ...sign.flag, tree, ...parents.flatMap((p) => ['-p', p]), '-F', '-'],
    {
      input: message,
      env: {
        GIT_AUTHOR_NAME: author.name,
        GIT_AUTHOR_EMAIL: author.email,
        ...(author.date ? { GIT_AUTHOR_DATE: author.date } : {}),
        GIT_COMMITTER_NAME: `gitfailover (${cfg.node})`,
        GIT_COMMITTER_EMAIL: `gitfailover@${cfg.node}`,
      },
    },
  );
  return r.stdout.trim();
}

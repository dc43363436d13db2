import { GitfailoverError, errorMessage } from '../errors.js';
import { redact } from './git.js';
import type { NodeRepo } from './node-repo.js';

/**
 * Push the node's branch (never forced) and say which kind of failure it was: `waiting` (the
 * remote is unreachable: retry with backoff) or `stalling` (E_PUSH_REJECTED: the remote has
 * commits this node does not descend from — another node wrote — so a retry would only be
 * rejected again and forcing would destroy them).
 *
 * The kind is decided from the history, not from git's wording: after a failure, a fetch that
 * works and shows a remote head that is not an ancestor of ours is a rejection, whatever a
 * server's wording of the refusal (NodeRepo.push recognises git's own).
 */
export async function pushBranch(
  repo: NodeRepo,
  timeoutMs: number,
  head?: string,
): Promise<{ pushed: boolean; head?: string }> {
  try {
    return await repo.push(timeoutMs, head);
  } catch (err) {
    const e =
      err instanceof GitfailoverError
        ? err
        : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting', cause: err });
    if (e.kind === 'stalling') throw e;
    let remoteHead: string | undefined;
    try {
      remoteHead = await repo.fetch(timeoutMs);
    } catch {
      throw e; // still unreachable: the push error says why
    }
    const head = await repo.resolve(repo.branchRef);
    if (remoteHead && head && !(await repo.isAncestor(remoteHead, head))) {
      throw new GitfailoverError(
        'E_PUSH_REJECTED',
        `push to ${redact(repo.spec.remote)} was rejected: the remote branch ${repo.spec.branch} is at ${remoteHead.slice(0, 12)}, which this node's ${head.slice(0, 12)} does not build on (another node wrote to the repo). Nothing was forced; run "gitfailover status" and see the failback runbook in the README.`,
        { kind: 'stalling', cause: err, data: { remoteHead, head } },
      );
    }
    throw e;
  }
}

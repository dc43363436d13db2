import type { NodeRepo } from './node-repo.js';

/**
 * The one meaning of "behind": commits of the remote head that `applied` (a standby's applied
 * commit, a primary's local branch head) does not have. 0 when there is no head, when they are the
 * same, or when `applied` is ahead (a primary's unpushed commits); null when neither descends from
 * the other (the history diverged: a partial sync cannot get there).
 */
export async function behindOf(
  repo: NodeRepo,
  applied: string | undefined,
  head: string | undefined,
): Promise<number | null> {
  if (!head || applied === head) return 0;
  if (!applied) return repo.count(undefined, head);
  if (await repo.isAncestor(applied, head)) return repo.count(applied, head);
  if (await repo.isAncestor(head, applied)) return 0;
  return null;
}

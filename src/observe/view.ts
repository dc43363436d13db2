import { behindOf } from '../repo/behind.js';
import type { NodeRepo } from '../repo/node-repo.js';
import type { SyncResult } from '../sync/state.js';
import type { TriggerDelivery } from '../triggers/dispatcher.js';

/** What /readyz answers, and why (the rule's verdict, observe/readiness.ts, in two fields). */
export interface ReadyAnswer {
  ok: boolean;
  reason: string;
}

/** The node's state as the metrics, /readyz and the status page see it (one shape for both roles). */
export interface NodeSnapshot {
  node: string;
  role: 'primary' | 'standby';
  /** standby: the applied commit; primary: the local branch head (what it recorded). */
  appliedCommit?: string;
  /** The remote branch head as last fetched (standby) or pushed/fetched (primary). */
  headCommit?: string;
  appliedTime?: number;
  headTime?: number;
  /** null: the history was rewritten (the head does not descend from the applied commit). */
  behindCommits: number | null;
  behindSeconds: number;
  unpushed: number;
  lastHeartbeat?: string;
  ready: ReadyAnswer;
}

/** What a daemon exposes to the metrics and the status page. */
export interface NodeView {
  readonly node: string;
  role(): 'primary' | 'standby';
  snapshot(): Promise<NodeSnapshot>;
  deliveries(): TriggerDelivery[];
  /** The last sync state.json remembers (standby), whoever ran it. */
  lastSync(): SyncResult | undefined;
}

/**
 * Commit times are immutable: each is asked of git once. Bounded, since a long-running daemon
 * sees a new head with every push.
 */
export class CommitTimes {
  private readonly cache = new Map<string, number>();
  constructor(private readonly repo: NodeRepo) {}

  async of(commit: string | undefined): Promise<number | undefined> {
    if (!commit) return undefined;
    const hit = this.cache.get(commit);
    if (hit !== undefined) return hit;
    const t = await this.repo.commitTime(commit);
    if (t === undefined) return undefined;
    if (this.cache.size > 256) this.cache.clear();
    this.cache.set(commit, t);
    return t;
  }
}

/** The git half of a snapshot: applied vs head, their times, how far behind, unpushed. */
export async function repoPosition(
  repo: NodeRepo,
  times: CommitTimes,
  applied: string | undefined,
): Promise<
  Pick<
    NodeSnapshot,
    'appliedCommit' | 'headCommit' | 'appliedTime' | 'headTime' | 'behindCommits' | 'behindSeconds' | 'unpushed'
  >
> {
  // Through the daemon's kept-open cat-file: a snapshot follows every record and sync.
  const head = await repo.resolveRef(repo.trackingRef);
  const local = await repo.resolveRef(repo.branchRef);
  const [appliedTime, headTime] = await Promise.all([times.of(applied), times.of(head)]);
  const behindCommits = await behindOf(repo, applied, head);
  let behindSeconds = 0;
  if (head && head !== applied && behindCommits !== 0 && headTime !== undefined) {
    behindSeconds =
      appliedTime !== undefined ? Math.max(0, headTime - appliedTime) : Math.max(0, Date.now() / 1000 - headTime);
  }
  const unpushed = local && local !== head ? await repo.count(head, local) : 0;
  return { appliedCommit: applied, headCommit: head, appliedTime, headTime, behindCommits, behindSeconds, unpushed };
}

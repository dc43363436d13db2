/**
 * In-memory history for the status page: lag samples for the chart and the recent activity.
 * Nothing here is persisted: after a restart the chart starts empty, which is what "since the
 * daemon started" honestly means; state.json keeps what must survive (the last sync).
 */

export interface LagSample {
  /** epoch ms */
  t: number;
  behindSeconds: number;
  behindCommits: number | null;
}

export class LagHistory {
  private readonly samples: LagSample[] = [];
  constructor(
    private readonly keepMs = 6 * 3600_000,
    private readonly minGapMs = 5_000,
  ) {}

  /** Keeps a sample when the value changed or enough time passed: a busy daemon does not flood the chart. */
  add(s: LagSample): void {
    const last = this.samples.at(-1);
    if (
      last &&
      s.t - last.t < this.minGapMs &&
      last.behindSeconds === s.behindSeconds &&
      last.behindCommits === s.behindCommits
    )
      return;
    this.samples.push(s);
    const cutoff = s.t - this.keepMs;
    while (this.samples.length > 0 && this.samples[0]!.t < cutoff) this.samples.shift();
    if (this.samples.length > 5000) this.samples.splice(0, this.samples.length - 5000);
  }

  list(): LagSample[] {
    return [...this.samples];
  }
}

/** One line of "recent activity": a standby's sync, a primary's record or push. */
export interface Activity {
  time: string;
  kind: 'sync' | 'record' | 'push' | 'conflict';
  /** partial/full for a sync */
  mode?: string;
  success: boolean;
  durationMs?: number;
  domains: string[];
  fromCommit?: string;
  toCommit?: string;
  detail?: string;
}

export class ActivityLog {
  private readonly items: Activity[] = [];
  constructor(private readonly max = 50) {}

  add(a: Activity): void {
    // The same sync may be seen twice (the daemon's own result, then state.json): keep one.
    if (this.items.some((i) => i.time === a.time && i.kind === a.kind)) return;
    this.items.unshift(a);
    this.items.length = Math.min(this.items.length, this.max);
  }

  list(): Activity[] {
    return [...this.items];
  }
}

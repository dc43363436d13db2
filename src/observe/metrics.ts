import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SyncResult } from '../sync/state.js';
import type { TriggerDelivery } from '../triggers/dispatcher.js';
import type { NodeView } from './view.js';

/**
 * The daemon's Prometheus metrics, on a registry of its own (not prom-client's global one), so
 * two daemons in one process (tests) never share series.
 *
 * Gauges that describe the node's state are read from the NodeView at scrape time rather than
 * pushed from the code paths that change them: a scrape then always sees what `status` would
 * say, including changes made by a `sync` or `record` run from the command line.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly syncs: Counter<'mode' | 'result'>;
  private readonly syncDuration: Histogram<'mode'>;
  private readonly records: Counter<'result'>;
  private readonly pushes: Counter<'result'>;
  /** Sync results already counted, by their start time: the daemon's own and those found in state.json. */
  private lastCounted?: string;

  // biome-ignore lint/complexity/noExcessiveLinesPerFunction: the declarations of every metric, one after another
  constructor(private readonly view: NodeView) {
    // The sync state.json already had at start was counted by the run that did it.
    this.lastCounted = view.lastSync()?.time;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'gitfailover_' });
    new Gauge({
      name: 'gitfailover_info',
      help: 'Constant 1, labelled with the node name and its role',
      labelNames: ['node', 'role'],
      registers,
      collect() {
        this.reset();
        this.set({ node: view.node, role: view.role() }, 1);
      },
    });
    // One snapshot per scrape, shared by the gauges below (each collect() runs in the same scrape).
    let pending: ReturnType<NodeView['snapshot']> | undefined;
    const snap = () => (pending ??= view.snapshot().finally(() => setImmediate(() => (pending = undefined))));
    const gauge = (
      name: string,
      help: string,
      pick: (s: Awaited<ReturnType<NodeView['snapshot']>>) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        registers,
        async collect() {
          const v = pick(await snap());
          this.set(v ?? Number.NaN);
        },
      });
    gauge(
      'gitfailover_applied_commit_timestamp_seconds',
      'Commit time of the applied commit (standby) or of the local branch head (primary); NaN before the first',
      (s) => s.appliedTime,
    );
    gauge(
      'gitfailover_remote_head_timestamp_seconds',
      'Commit time of the remote branch head as last fetched; NaN while the remote has no branch',
      (s) => s.headTime,
    );
    gauge(
      'gitfailover_behind_seconds',
      'How far the applied commit is behind the remote head: head commit time minus applied commit time (0 when at the head; since the head commit time when nothing is applied yet)',
      (s) => s.behindSeconds,
    );
    gauge(
      'gitfailover_behind_commits',
      'Commits of the remote head not applied yet; NaN when the history was rewritten (a full sync is needed)',
      (s) => s.behindCommits ?? undefined,
    );
    gauge(
      'gitfailover_unpushed_commits',
      "Commits in this node's clone that the remote does not have",
      (s) => s.unpushed,
    );
    gauge(
      'gitfailover_heartbeat_age_seconds',
      'Seconds since the last heartbeat: received from the primary (standby) or sent to the standbys (primary); NaN before the first',
      (s) =>
        s.lastHeartbeat === undefined ? undefined : Math.max(0, (Date.now() - Date.parse(s.lastHeartbeat)) / 1000),
    );
    gauge('gitfailover_ready', '1 when /readyz answers 200', (s) => (s.ready.ok ? 1 : 0));

    this.syncs = new Counter({
      name: 'gitfailover_syncs_total',
      help: 'Syncs by mode (partial, full) and result (success, failure, up_to_date)',
      labelNames: ['mode', 'result'],
      registers,
    });
    this.syncDuration = new Histogram({
      name: 'gitfailover_sync_duration_seconds',
      help: 'Duration of syncs that applied something or failed (up-to-date checks are not counted)',
      labelNames: ['mode'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers,
    });
    this.records = new Counter({
      name: 'gitfailover_records_total',
      help: 'Primary: records by result (commit, no_change, failure)',
      labelNames: ['result'],
      registers,
    });
    this.pushes = new Counter({
      name: 'gitfailover_pushes_total',
      help: 'Primary: push attempts by result (success, failure, rejected)',
      labelNames: ['result'],
      registers,
    });

    const fromDeliveries = (name: string, help: string, count: (d: TriggerDelivery) => number) =>
      new Counter({
        name,
        help,
        labelNames: ['trigger', 'on'],
        registers,
        collect() {
          // The dispatcher keeps the totals; mirror them (a counter only ever goes up there too).
          this.reset();
          for (const d of view.deliveries()) this.inc({ trigger: d.id, on: d.on }, count(d));
        },
      });
    fromDeliveries(
      'gitfailover_trigger_deliveries_total',
      'Trigger deliveries finished (succeeded or failed, after retries)',
      (d) => d.succeeded + d.failed,
    );
    fromDeliveries(
      'gitfailover_trigger_failures_total',
      'Trigger deliveries that failed after their retries',
      (d) => d.failed,
    );
    fromDeliveries(
      'gitfailover_trigger_dropped_total',
      'Matched events replaced by a newer one before delivery (only the newest is kept)',
      (d) => d.dropped,
    );
  }

  /** Count a sync once, whoever ran it (the daemon, or `gitfailover sync` seen through state.json). */
  observeSync(r: SyncResult | undefined): void {
    if (!r || r.dryRun || r.time === this.lastCounted) return;
    this.lastCounted = r.time;
    const result = !r.success ? 'failure' : r.upToDate ? 'up_to_date' : 'success';
    this.syncs.inc({ mode: r.mode, result });
    if (result !== 'up_to_date') this.syncDuration.observe({ mode: r.mode }, r.durationMs / 1000);
  }

  observeRecord(result: 'commit' | 'no_change' | 'failure'): void {
    this.records.inc({ result });
  }

  observePush(result: 'success' | 'failure' | 'rejected'): void {
    this.pushes.inc({ result });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    this.observeSync(this.view.lastSync());
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

import { fmtRatio, table } from './stats.js';

/**
 * The summary table BENCHMARKS.md opens with: one row per figure of issue 23's table, filled by the
 * sections from what they measured in this run (never typed in by hand). A row whose section did
 * not run says so instead of keeping an old figure.
 */
export type SummaryKey =
  | 'latency.notify.p50'
  | 'latency.notify.p99'
  | 'latency.polling.p50'
  | 'record.process'
  | 'full.cold'
  | 'full.rss'
  | 'scale.partial'
  | 'processes.record'
  | 'processes.partial';

export interface SummaryRow {
  /** gitfailover's figure, formatted */
  value: string;
  /** the same-run floor, named and formatted ("raw git 64 ms") */
  floor: string;
  /** gitfailover / floor (paired where the section pairs its runs) */
  ratio?: number;
  /** the goal, and whether it was met ("met (<= 1.5x)") */
  goal?: string;
}

const ROWS: { key: SummaryKey; what: string; section: string }[] = [
  { key: 'latency.notify.p50', what: 'change → applied on the standby, notify, p50', section: 'latency' },
  { key: 'latency.notify.p99', what: 'same, p99', section: 'latency' },
  { key: 'latency.polling.p50', what: 'same, polling 250 ms, p50', section: 'latency' },
  { key: 'record.process', what: '`gitfailover record` process, one change', section: 'throughput' },
  { key: 'full.cold', what: 'cold full sync, 10,000 domains', section: 'full' },
  { key: 'full.rss', what: 'full sync peak RSS, 10,000 domains (process tree)', section: 'memory' },
  { key: 'scale.partial', what: 'partial sync 10,000 vs 100 domains', section: 'scale' },
  { key: 'processes.record', what: 'git processes per change, primary (record + push)', section: 'startup' },
  {
    key: 'processes.partial',
    what: 'git processes, standby: `gitfailover sync` of one one-user commit (partial sync, one commit behind)',
    section: 'startup',
  },
];

export class Summary {
  private readonly rows = new Map<SummaryKey, SummaryRow>();

  set(key: SummaryKey, row: SummaryRow): void {
    this.rows.set(key, row);
  }

  /** The table, every row in issue 23's order; `ran` names the sections this run included. */
  render(ran: (section: string) => boolean): string {
    const body = ROWS.map(({ key, what, section }) => {
      const r = this.rows.get(key);
      if (!r) return [what, ran(section) ? 'no result' : `not measured (\`--only\` left out ${section})`, '', '', ''];
      return [what, r.value, r.floor, r.ratio === undefined ? '' : fmtRatio(r.ratio), r.goal ?? ''];
    });
    return `## Summary

Every figure below was measured in this run by one of the sections that follow, and is copied here from its results; each ratio is gitfailover against a floor measured in the same run.

${table(['what', 'gitfailover', 'same-run floor', 'ratio', 'goal'], body)}`;
  }
}

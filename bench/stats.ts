/**
 * The bench's statistics, kept pure so a unit test can pin them. Percentiles use the
 * nearest-rank method: every reported figure is a sample that was actually observed.
 */
export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN;
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? Number.NaN,
    mean,
  };
}

export function median(samples: readonly number[]): number {
  return percentile(
    [...samples].sort((a, b) => a - b),
    50,
  );
}

/**
 * The median of per-pair ratios a[i]/b[i]: pairs were measured back to back, so a drift in the
 * machine's speed (other engineers' builds) moves both sides of a pair and cancels out.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  const r: number[] = [];
  for (let i = 0; i < n; i++) if (b[i]! > 0) r.push(a[i]! / b[i]!);
  return median(r);
}

/** `12.3 ms`, `1.42 s` */
export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'n/a';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(1)} ms`;
}

export function fmtMb(kb: number): string {
  return Number.isFinite(kb) ? `${(kb / 1024).toFixed(0)} MB` : 'n/a';
}

export function fmtRatio(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a';
}

/** `ok` / `MISSED` against a goal of "at most `goal` x". */
export function verdict(ratio: number, goal: number): string {
  if (!Number.isFinite(ratio)) return 'n/a';
  return ratio <= goal ? `met (<= ${goal}x)` : `MISSED (goal <= ${goal}x)`;
}

/** A GitHub-flavoured markdown table. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

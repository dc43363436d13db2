import { describe, expect, it } from 'vitest';
import { pairedRatio, percentile, summarize } from '../../../bench/stats.js';
import { spliceReport } from '../../../bench/report.js';

describe('bench statistics', () => {
  it('percentiles are nearest-rank: always an observed sample', () => {
    const s = Array.from({ length: 200 }, (_, i) => i + 1);
    expect(percentile(s, 50)).toBe(100);
    expect(percentile(s, 95)).toBe(190);
    expect(percentile(s, 99)).toBe(198);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('summarize sorts a copy and reports min, p50, max, mean', () => {
    const input = [5, 1, 3];
    expect(summarize(input)).toMatchObject({ n: 3, min: 1, p50: 3, max: 5, mean: 3 });
    expect(input).toEqual([5, 1, 3]);
  });

  it('pairedRatio is the median of per-pair ratios, so a slow phase of the machine cancels out', () => {
    // The second pair ran while the machine was 10x slower: both sides moved, the ratio did not.
    expect(pairedRatio([20, 200, 22], [10, 100, 11])).toBe(2);
    expect(pairedRatio([1], [0])).toBeNaN();
  });
});

describe('BENCHMARKS.md splicing', () => {
  it('replaces only the text between the markers', () => {
    const before = '# Benchmarks\n<!-- bench:start -->\nold\n<!-- bench:end -->\n\n## ProFTPD\nkeep me\n';
    const after = spliceReport(before, 'new');
    expect(after).toBe('# Benchmarks\n<!-- bench:start -->\nnew\n<!-- bench:end -->\n\n## ProFTPD\nkeep me\n');
  });

  it('puts the block first in a file without markers and keeps the rest', () => {
    expect(spliceReport('## isomorphic-git\nfigures\n', 'new')).toBe(
      '<!-- bench:start -->\nnew\n<!-- bench:end -->\n\n## isomorphic-git\nfigures\n',
    );
  });
});

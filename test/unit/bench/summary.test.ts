import { describe, expect, it } from 'vitest';
import { Summary } from '../../../bench/summary.js';

describe('bench summary table', () => {
  it("lists every row of issue 23's table in order, from the sections' results; a row not run says so", () => {
    const s = new Summary();
    s.set('latency.notify.p50', {
      value: '194 ms',
      floor: 'raw git 64 ms',
      ratio: 194 / 64,
      goal: 'MISSED (goal <= 1.5x)',
    });
    s.set('processes.record', { value: '9', floor: '`git add -A && git commit && git push` 3', ratio: 3 });
    const text = s.render((section) => section !== 'memory');
    const rows = text
      .split('\n')
      .filter((l) => l.startsWith('| ') && !l.startsWith('| what') && !l.startsWith('| ---'));
    expect(rows.map((r) => r.split(' | ')[0]!.slice(2))).toEqual([
      'change → applied on the standby, notify, p50',
      'same, p99',
      'same, polling 250 ms, p50',
      '`gitfailover record` process, one change',
      'cold full sync, 10,000 domains',
      'full sync peak RSS, 10,000 domains (process tree)',
      'partial sync 10,000 vs 100 domains',
      'git processes per change, primary (record + push)',
      'git processes, standby: `gitfailover sync` of one one-user commit (partial sync, one commit behind)',
    ]);
    expect(rows[0]).toContain('| 194 ms | raw git 64 ms | 3.03x | MISSED (goal <= 1.5x) |');
    expect(rows[1]).toContain('| no result |');
    expect(rows[5]).toContain('not measured (`--only` left out memory)');
    expect(rows[7]).toContain('| 9 |');
  });
});

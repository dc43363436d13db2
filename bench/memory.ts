import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mustRun } from './proc.js';
import { fmtMb, fmtMs, table } from './stats.js';
import type { Summary } from './summary.js';
import { runJsonWithTreeRss } from './tree-rss.js';

interface SyncOut {
  ms: number;
  maxRssKb: number;
  success: boolean;
  mode: string;
  error?: string;
}

/**
 * Memory of a full sync: the peak of the whole process tree (the sync's Node process, its worker
 * threads and every git it starts), cold (a new standby) and warm (`sync --full` again, the
 * content known), against `git clone` of the same repo measured the same way.
 */
export async function memory(
  root: string,
  repos: Map<number, string>,
  sizes: number[],
  log: (s: string) => void,
  summary?: Summary,
): Promise<string> {
  const rows: string[][] = [];
  for (const n of sizes) {
    const remote = repos.get(n)!;
    const dir = join(root, `memory-${n}`);
    mkdirSync(join(dir, 'live'), { recursive: true });
    const file = join(dir, 'standby.yaml');
    writeFileSync(
      file,
      stringify({
        node: 'bench-memory',
        role: 'standby',
        repo: { remote, branch: 'main', stateDir: join(dir, 'state') },
        live: { dir: join(dir, 'live') },
        substitution: { ips: { '10.0.0.5': '10.1.0.5' } },
      }),
    );
    await mustRun('sync', []);
    const clone = await runJsonWithTreeRss<{ ms: number }>('child-clone.js', [remote, join(dir, 'clone')]);
    await mustRun('sync', []);
    const cold = await runJsonWithTreeRss<SyncOut>('child-sync.js', [file]);
    await mustRun('sync', []);
    const warm = await runJsonWithTreeRss<SyncOut>('child-sync.js', [file, '--full']);
    for (const r of [cold, warm]) if (!r.success) throw new Error(`bench: memory sync failed: ${r.error}`);
    const label = n.toLocaleString('en');
    rows.push([`${label} domains, cold full sync`, fmtMs(cold.ms), fmtMb(cold.treeRssKb), fmtMb(cold.maxRssKb)]);
    rows.push([`${label} domains, warm full sync`, fmtMs(warm.ms), fmtMb(warm.treeRssKb), fmtMb(warm.maxRssKb)]);
    rows.push([`${label} domains, \`git clone --no-local\` (baseline)`, fmtMs(clone.ms), fmtMb(clone.treeRssKb), '']);
    if (n === Math.max(...sizes)) {
      const peak = Math.max(cold.treeRssKb, warm.treeRssKb);
      summary?.set('full.rss', {
        value: `${fmtMb(cold.treeRssKb)} cold, ${fmtMb(warm.treeRssKb)} warm (${label} domains)`,
        floor: `\`git clone\` ${fmtMb(clone.treeRssKb)}`,
        ratio: peak / clone.treeRssKb,
        goal: peak <= 200 * 1024 ? 'met (<= 200 MB)' : 'MISSED (goal <= 200 MB)',
      });
    }
    log(
      `memory ${n}: cold ${fmtMb(cold.treeRssKb)} (node ${fmtMb(cold.maxRssKb)}), warm ${fmtMb(warm.treeRssKb)}, clone ${fmtMb(clone.treeRssKb)}`,
    );
  }
  return `## 9. Memory of a full sync: the whole process tree

Peak resident memory of the process tree (the sync's Node process with its worker threads, and every git process it starts), sampled from /proc every 20 ms and summed over the processes alive at that moment (shared pages count once per process, so this is an upper bound). *Cold*: a new standby's first sync; *warm*: \`sync --full\` again right after. The baseline is \`git clone --no-local\` of the same repo (a process of its own, sampled the same way).

${table(['run', 'time (in the process)', 'peak RSS, process tree', 'peak RSS, Node process alone (maxRSS)'], rows)}`;
}

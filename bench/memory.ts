import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { mustRun } from './proc.js';
import { fmtMb, fmtMs, table } from './stats.js';
import type { Summary } from './summary.js';
import { runJsonWithTreeRss, runWithTreeRss } from './tree-rss.js';

/** Full-sync runs another section already made and sampled (section 3's, at 10,000 domains). */
export interface SampledRuns {
  cold: { ms: number; treeRssKb: number; maxRssKb: number }[];
  warm: { ms: number; treeRssKb: number; maxRssKb: number }[];
  /** the git floor runs: `git clone --no-local` + `cp -r` under one shell */
  clone: { ms: number; treeRssKb: number }[];
}

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
 * content known), against `git clone` of the same repo measured the same way. `reuse`: sizes whose
 * runs section 3 already sampled; they are reported from those runs, not run again.
 */
export async function memory(
  root: string,
  repos: Map<number, string>,
  sizes: number[],
  log: (s: string) => void,
  summary?: Summary,
  reuse: Map<number, SampledRuns> = new Map(),
): Promise<string> {
  const rows: string[][] = [];
  // The run with the higher peak of each kind, when section 3 made two.
  const worst = <T extends { treeRssKb: number }>(xs: T[]) => xs.reduce((a, b) => (b.treeRssKb > a.treeRssKb ? b : a));
  for (const n of sizes) {
    const remote = repos.get(n)!;
    const shared = reuse.get(n);
    if (shared) {
      const cold = worst(shared.cold);
      const warm = worst(shared.warm);
      const clone = worst(shared.clone);
      report(n, cold, warm, { ms: clone.ms, treeRssKb: clone.treeRssKb }, true);
      continue;
    }
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
    const cloned = await runWithTreeRss('git', ['clone', '-q', '--no-local', remote, join(dir, 'clone')]);
    if (cloned.code !== 0) throw new Error(`bench: git clone ${remote} exited ${cloned.code}: ${cloned.stderr}`);
    const clone = { ms: cloned.ms, treeRssKb: cloned.treeRssKb };
    await mustRun('sync', []);
    const cold = await runJsonWithTreeRss<SyncOut>('child-sync.js', [file]);
    await mustRun('sync', []);
    const warm = await runJsonWithTreeRss<SyncOut>('child-sync.js', [file, '--full']);
    for (const r of [cold, warm]) if (!r.success) throw new Error(`bench: memory sync failed: ${r.error}`);
    report(n, cold, warm, clone, false);
  }

  function report(
    n: number,
    cold: { ms: number; treeRssKb: number; maxRssKb: number },
    warm: { ms: number; treeRssKb: number; maxRssKb: number },
    clone: { ms: number; treeRssKb: number },
    fromSection3: boolean,
  ): void {
    const label = n.toLocaleString('en');
    const from = fromSection3 ? ' (section 3)' : '';
    rows.push([`${label} domains, cold full sync${from}`, fmtMs(cold.ms), fmtMb(cold.treeRssKb), fmtMb(cold.maxRssKb)]);
    rows.push([`${label} domains, warm full sync${from}`, fmtMs(warm.ms), fmtMb(warm.treeRssKb), fmtMb(warm.maxRssKb)]);
    rows.push([
      fromSection3
        ? `${label} domains, git floor of section 3: \`git clone --no-local\` + \`cp -r\` (baseline)`
        : `${label} domains, \`git clone --no-local\` (baseline)`,
      fmtMs(clone.ms),
      fmtMb(clone.treeRssKb),
      '',
    ]);
    if (n === Math.max(...sizes)) {
      const peak = Math.max(cold.treeRssKb, warm.treeRssKb);
      summary?.set('full.rss', {
        value: `${fmtMb(cold.treeRssKb)} cold, ${fmtMb(warm.treeRssKb)} warm (${label} domains)`,
        floor: `${fromSection3 ? '`git clone` + `cp -r`' : '`git clone`'} ${fmtMb(clone.treeRssKb)}`,
        ratio: peak / clone.treeRssKb,
        goal: peak <= 200 * 1024 ? 'met (<= 200 MB)' : 'MISSED (goal <= 200 MB)',
      });
    }
    log(
      `memory ${n}: cold ${fmtMb(cold.treeRssKb)} (node ${fmtMb(cold.maxRssKb)}), warm ${fmtMb(warm.treeRssKb)}, clone ${fmtMb(clone.treeRssKb)}`,
    );
  }
  return `## 9. Memory of a full sync: the whole process tree

Peak resident memory of the process tree (the sync's Node process with its worker threads, and every git process it starts), sampled from /proc every 20 ms and summed over the processes alive at that moment (shared pages count once per process, so this is an upper bound). *Cold*: a new standby's first sync; *warm*: \`sync --full\` again right after. The baseline is \`git clone --no-local\` of the same repo, sampled the same way (since issue 23's third round the clone is sampled on its own, without the Node parent process that earlier runs counted in its tree, ~40-50 MB).${
    reuse.size
      ? ` At ${[...reuse.keys()].map((n) => n.toLocaleString('en')).join(', ')} domains the rows are section 3's own runs, sampled while they were timed instead of run a second time here: the cold row is the cold run with the higher peak of its two, the warm row likewise, and the baseline is the git floor run with the higher peak (\`git clone --no-local\` + \`cp -r\` under one shell and \`/usr/bin/time\`; the clone is the largest part of that tree, \`cp\` runs after it).`
      : ''
  }

${table(['run', 'time (in the process)', 'peak RSS, process tree', 'peak RSS, Node process alone (maxRSS)'], rows)}`;
}

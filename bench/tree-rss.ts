import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchGitEnv, DIST_BENCH } from './proc.js';

/**
 * The peak memory of a whole process tree (a sync's Node process and the git processes it
 * starts), which `maxRSS` of the Node process alone does not show: sampled from /proc every
 * `everyMs`, the sum of the resident set of the root and all its descendants at that moment.
 * Pages shared between processes count once per process, so the sum is an upper bound.
 */
const PAGE_KB = 4;

function descendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue; // it ended between two reads
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' '))
          if (c.trim()) out.push(Number(c));
      } catch {}
    }
  }
  return out;
}

function treeRssKb(pid: number): number {
  let kb = 0;
  for (const p of descendants(pid)) {
    try {
      kb += Number(readFileSync(`/proc/${p}/statm`, 'utf8').split(' ')[1]) * PAGE_KB;
    } catch {}
  }
  return kb;
}

export interface TreeRun {
  /** wall time from spawn to exit */
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
  /** peak of the summed resident sets of the process and its descendants */
  treeRssKb: number;
  samples: number;
}

/** Run any command to its end while sampling its process tree's memory every `everyMs`. */
export function runWithTreeRss(cmd: string, args: string[], everyMs = 20): Promise<TreeRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, {
      env: { ...process.env, ...benchGitEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let peak = 0;
    let samples = 0;
    const timer = setInterval(() => {
      if (child.pid === undefined) return;
      peak = Math.max(peak, treeRssKb(child.pid));
      samples += 1;
    }, everyMs);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ ms: performance.now() - t0, code: code ?? 1, stdout, stderr, treeRssKb: peak, samples });
    });
  });
}

/** Run a bench child script (one JSON line last) and sample its process tree's memory while it runs. */
export async function runJsonWithTreeRss<T>(
  script: string,
  args: string[],
  everyMs = 20,
): Promise<T & { wallMs: number; treeRssKb: number; samples: number }> {
  const r = await runWithTreeRss(process.execPath, [join(DIST_BENCH, script), ...args], everyMs);
  if (r.code !== 0) throw new Error(`${script} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  const last = r.stdout.trim().split('\n').pop() ?? '{}';
  return { ...(JSON.parse(last) as T), wallMs: r.ms, treeRssKb: r.treeRssKb, samples: r.samples };
}

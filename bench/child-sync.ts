import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseNodeFile } from '../src/config/load.js';
import { syncOnce } from '../src/sync/sync.js';

/**
 * One sync in a process of its own, so its peak RSS is the sync's and nothing else's:
 * `node child-sync.js NODEFILE [--full]` prints one JSON line {ms, maxRssKb, success, mode, error}.
 * `ms` is measured inside the process (module loading excluded): the bench compares syncs with
 * git commands whose own start-up is a few ms, so Node's ~100 ms start would only blur the ratio.
 */
const file = process.argv[2]!;
const cfg = parseNodeFile(file, readFileSync(file, 'utf8'));
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const timings: Record<string, number> = {};
const out = await syncOnce(cfg, { full: process.argv.includes('--full'), onDemand: true, timings });
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(
  `${JSON.stringify({
    ms,
    maxRssKb: process.resourceUsage().maxRSS,
    success: out.result.success,
    mode: out.result.mode,
    domains: out.result.domains.length,
    error: out.result.error,
    timings,
    cpuMs: (cpu.user + cpu.system) / 1000,
    sysMs: cpu.system / 1000,
  })}\n`,
);

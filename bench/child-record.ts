import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseNodeFile } from '../src/config/load.js';
import { record } from '../src/record/record.js';
import { domainName, userName, userYaml } from './gen-repo.js';

/**
 * `child-record.js NODEFILE [--push]`: one `record`, without push unless asked, printing {commit, ms}
 * (ms measured inside the process, Node's start-up excluded).
 * `child-record.js NODEFILE --inproc N`: N records in this process, each after changing one user
 * file (what the primary daemon does), printing {ms: [...]} - the cost without Node's start-up.
 */
const file = process.argv[2]!;
const cfg = parseNodeFile(file, readFileSync(file, 'utf8'));
const n = process.argv.includes('--inproc') ? Number(process.argv[process.argv.indexOf('--inproc') + 1]) : 0;
if (n === 0) {
  // `--push`: push as `gitfailover record` does (the secrets section has a standby sync after it).
  const t0 = performance.now();
  const r = await record(cfg, { push: process.argv.includes('--push'), actor: 'bench' });
  process.stdout.write(`${JSON.stringify({ commit: r.commit, ms: performance.now() - t0 })}\n`);
} else {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = domainName((i * 11) % 100);
    writeFileSync(join(cfg.live.dir, 'domains', d, 'users', `${userName(9)}.yaml`), userYaml(d, userName(9), 9000 + i));
    const t0 = performance.now();
    const r = await record(cfg, { push: false, actor: 'bench' });
    ms.push(performance.now() - t0);
    if (!r.commit) throw new Error('child-record: no commit');
  }
  process.stdout.write(`${JSON.stringify({ ms })}\n`);
}

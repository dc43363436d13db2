import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

/** `child-clone.js REMOTE DIR`: `git clone --no-local` as a child of a process the bench samples like a sync's. */
const t0 = performance.now();
const r = spawnSync('git', ['clone', '-q', '--no-local', process.argv[2]!, process.argv[3]!], { stdio: 'inherit' });
if (r.status !== 0) process.exit(1);
process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0 })}\n`);

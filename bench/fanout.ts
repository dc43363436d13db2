import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { domainName, userName, userYaml } from './gen-repo.js';
import { benchPrimary, benchStandby, freePort, repoWithLive, run, sleep, startDaemon, waitUntil } from './proc.js';
import { fmtMs, fmtRatio, summarize, table } from './stats.js';

/**
 * Fan-out: one primary daemon notifying 1, then 10 standby daemons, all on this machine over
 * loopback. The clock runs from the write in the primary's live dir to the moment the last
 * standby's live dir holds the new bytes (each polled every 2 ms).
 */
export async function fanout(root: string, changes: number, log: (s: string) => void): Promise<string> {
  const dir = join(root, 'fanout');
  const n = 100;
  const { remote, prodLive } = await repoWithLive(dir, n);
  const env = { BENCH_NOTIFY_SECRET: 'bench-secret-0123456789abcdef' };
  const path = `domains/${domainName(3)}/users/${userName(2)}.yaml`;

  const rows: string[][] = [];
  const p50s = new Map<number, number>();
  let round = 0;
  for (const count of [1, 10]) {
    round += 1;
    const ports = await Promise.all(Array.from({ length: count }, () => freePort()));
    const lives = ports.map((_, i) => join(dir, `s${count}-${i}`, 'live'));
    const files = ports.map((port, i) =>
      benchStandby(
        join(dir, `s${count}-${i}`, 'standby.yaml'),
        remote,
        join(dir, `s${count}-${i}`, 'live'),
        join(dir, `s${count}-${i}`, 'state'),
        {
          node: `standby-${count}-${i}`,
          sync: { automatic: true, interval: '1h' },
          notify: { listen: `127.0.0.1:${port}`, secret: 'env:BENCH_NOTIFY_SECRET' },
        },
      ),
    );
    const pFile = benchPrimary(join(dir, `primary-${count}.yaml`), remote, prodLive, join(dir, 'prod-state'), {
      record: { debounce: '0ms' },
      notify: {
        standbys: ports.map((p) => `http://127.0.0.1:${p}/notify`),
        secret: 'env:BENCH_NOTIFY_SECRET',
        heartbeat: '0ms',
      },
    });
    // One after the other: ten first full syncs at once would only measure the start-up.
    const standbys = [];
    for (const f of files) standbys.push(await startDaemon(['standby', '-c', f], /standby ready/, env));
    const primary = await startDaemon(['primary', '-c', pFile], /ready: watching/, env);
    try {
      const head = async () => (await run('git', ['--git-dir', remote, 'rev-parse', 'main'])).stdout.trim();
      const applied = (i: number) => {
        try {
          return (
            JSON.parse(readFileSync(join(dir, `s${count}-${i}`, 'state', 'state.json'), 'utf8')) as {
              appliedCommit?: string;
            }
          ).appliedCommit;
        } catch {
          return undefined;
        }
      };
      await sleep(1500);
      const h = await head();
      await waitUntil('the standbys to catch up', () => files.every((_, i) => applied(i) === h), 300_000, 50);
      const last: number[] = [];
      const first: number[] = [];
      for (let c = 1; c <= changes; c++) {
        const text = userYaml(domainName(3), userName(2), 100 * round + c);
        const t0 = performance.now();
        writeFileSync(join(prodLive, path), text);
        const done: (number | undefined)[] = Array.from({ length: count }, () => undefined);
        await waitUntil(`change ${c} on ${count} standby(s)`, () => {
          for (let i = 0; i < count; i++) {
            if (done[i] !== undefined) continue;
            try {
              if (readFileSync(join(lives[i]!, path), 'utf8') === text) done[i] = performance.now();
            } catch {}
          }
          return done.every((x) => x !== undefined);
        });
        const times = done.map((x) => x! - t0);
        first.push(Math.min(...times));
        last.push(Math.max(...times));
      }
      const l = summarize(last);
      const f = summarize(first);
      p50s.set(count, l.p50);
      rows.push([
        `${count} standby${count > 1 ? 's' : ''}: write -> last standby applied`,
        fmtMs(l.p50),
        fmtMs(l.p95),
        fmtMs(l.max),
        count === 1 ? '1.00x' : fmtRatio(l.p50 / p50s.get(1)!),
      ]);
      if (count > 1)
        rows.push([`${count} standbys: write -> first standby applied`, fmtMs(f.p50), fmtMs(f.p95), fmtMs(f.max), '']);
      log(`fan-out ${count}: last p50 ${fmtMs(l.p50)} p95 ${fmtMs(l.p95)}; first p50 ${fmtMs(f.p50)}`);
    } finally {
      await primary.stop();
      await Promise.all(standbys.map((s) => s.stop()));
    }
  }
  return `## 8. Fan-out: one primary, ten standbys

Every node on this machine (2 cores) as its own daemon process, on loopback, ${n} domains, a bare remote on local disk; the primary notifies every standby (signed) after each push, \`record.debounce: 0ms\`. ${changes} one-user changes, one at a time, first with 1 standby, then with 10 (the same primary daemon's settings, restarted with the longer list). The clock runs from the write in the primary's live dir until the last standby's live dir holds the new bytes.

${table(['what', 'p50', 'p95', 'max', 'p50 vs 1 standby'], rows)}`;
}

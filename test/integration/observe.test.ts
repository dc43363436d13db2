import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cli,
  git,
  initRemote,
  makePair,
  removeDir,
  startCli,
  writeDomain,
  writeUser,
  type Pair,
} from '../helpers/fixture.js';

const children: ChildProcess[] = [];
const pairs: Pair[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const p of pairs.splice(0)) removeDir(p.dir);
});

function appendYaml(file: string, value: Record<string, unknown>): void {
  writeFileSync(file, readFileSync(file, 'utf8') + stringify(value));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The value of one series of a Prometheus text exposition, e.g. `gitfailover_syncs_total{mode="full",result="success"}`. */
function series(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  }
  return undefined;
}

describe('metrics and readiness', () => {
  it('standby: /metrics has the applied commit time and the lag; /readyz turns 503 -> 200 when it catches up', async () => {
    const p = makePair();
    pairs.push(p);
    await initRemote(p);
    appendYaml(p.standby, { sync: { automatic: false, interval: '100ms' }, notify: { listen: '127.0.0.1:0' } });
    const t0 = 1_700_000_000;
    const at = (t: number) => ({ GIT_COMMITTER_DATE: `@${t} +0000`, GIT_AUTHOR_DATE: `@${t} +0000` });
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    expect((await cli(['record', '-c', p.primary], { env: at(t0) })).code).toBe(0);
    expect((await cli(['sync', '-c', p.standby])).code).toBe(0);
    writeUser(p.prodLive, 'acme', 'bob');
    expect((await cli(['record', '-c', p.primary], { env: at(t0 + 120) })).code).toBe(0);

    const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/);
    children.push(standby.child);
    const base = `http://${/standby ready on (\S+):/.exec(standby.output())![1]!}`;

    // Automatic sync is off: the daemon only fetches, so it sees itself 120s (one commit) behind.
    const behind = await until('the lag to show', async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return series(text, 'gitfailover_behind_commits') === 1 ? text : undefined;
    });
    expect(series(behind, 'gitfailover_applied_commit_timestamp_seconds')).toBe(t0);
    expect(series(behind, 'gitfailover_remote_head_timestamp_seconds')).toBe(t0 + 120);
    expect(series(behind, 'gitfailover_behind_seconds')).toBe(120);
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect((await notReady.json()).reason).toMatch(/^applied: .*\(behind: 1\)/);

    expect((await cli(['sync', '-c', p.standby])).code).toBe(0);
    await until('/readyz 200', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
    const text = await (await fetch(`${base}/metrics`)).text();
    const head = (await git(['rev-parse', 'main'], p.remote)).trim();
    expect(Number((await git(['show', '-s', '--format=%ct', head], p.remote)).trim())).toBe(t0 + 120);
    expect(series(text, 'gitfailover_applied_commit_timestamp_seconds')).toBe(t0 + 120);
    expect(series(text, 'gitfailover_behind_seconds')).toBe(0);
    expect(series(text, 'gitfailover_behind_commits')).toBe(0);
    // The sync ran from the command line: the daemon counts it from state.json.
    expect(series(text, 'gitfailover_syncs_total{mode="partial",result="success"}')).toBe(1);
    expect(series(text, 'gitfailover_sync_duration_seconds_count{mode="partial"}')).toBe(1);
    expect(series(text, 'gitfailover_ready')).toBe(1);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('primary: serves /metrics and /readyz on notify.listen; not ready once pushes fail longer than record.retryMax', async () => {
    const p = makePair({
      primary: { record: { debounce: '100ms', retry: '100ms', retryMax: '300ms' }, notify: { listen: '127.0.0.1:0' } },
    });
    pairs.push(p);
    await initRemote(p);
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    const primary = await startCli(['primary', '-c', p.primary, '--log-format', 'json'], /"msg":"ready: watching/);
    children.push(primary.child);
    const lines = primary.output().trim().split('\n');
    for (const l of lines) expect(() => JSON.parse(l), l).not.toThrow();
    const base = `http://${/listening on (\S+):/.exec(primary.output())![1]!}`;

    const ok = await fetch(`${base}/readyz`);
    expect(ok.status).toBe(200);
    let text = await (await fetch(`${base}/metrics`)).text();
    expect(series(text, 'gitfailover_unpushed_commits')).toBe(0);
    expect(series(text, 'gitfailover_records_total{result="commit"}')).toBe(1);
    expect(series(text, 'gitfailover_pushes_total{result="success"}')).toBe(1);
    expect(series(text, 'gitfailover_info{node="prod-1",role="primary"}')).toBe(1);

    // The remote goes away: the commit waits, and after retryMax the primary is not ready.
    const { renameSync } = await import('node:fs');
    renameSync(p.remote, `${p.remote}.gone`);
    writeUser(p.prodLive, 'acme', 'bob');
    await until('/readyz 503', async () => ((await fetch(`${base}/readyz`)).status === 503 ? true : undefined));
    text = await (await fetch(`${base}/metrics`)).text();
    expect(series(text, 'gitfailover_unpushed_commits')).toBe(1);
    expect(series(text, 'gitfailover_pushes_total{result="failure"}')).toBeGreaterThanOrEqual(1);
    renameSync(`${p.remote}.gone`, p.remote);
    await until('/readyz 200 again', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
  });
});

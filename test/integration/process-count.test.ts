import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliOk, usePairs, writeDomain, writeUser } from '../helpers/fixture.js';

/**
 * How many git processes one change costs on each side: latency on a small machine is mostly
 * process start-ups (BENCHMARKS.md, "Process counts"). A count, not a time: it does not depend
 * on the machine. git's own trace (GIT_TRACE2_EVENT, which the node passes on to git like every
 * GIT_* variable) records each process; those gitfailover started are the ones without a parent.
 */
const newPair = usePairs();

/** The most git processes each step may start; lower them when a change removes some. */
const PARTIAL_SYNC_BUDGET = 3;
const RECORD_BUDGET = 7;

async function traced(args: string[], traceFile: string): Promise<string> {
  const r = await cli(args, { env: { GIT_TRACE2_EVENT: traceFile } });
  expect(r.code, `gitfailover ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

function gitProcesses(traceFile: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as { event: string; sid: string; argv?: string[] };
    // A child of git (upload-pack, pack-objects, ...) has its parent's sid before a '/'.
    if (e.event === 'start' && !e.sid.includes('/')) out.push((e.argv ?? []).slice(1).join(' '));
  }
  return out;
}

describe('git processes per change', () => {
  it('a one-user change: record on the primary and the partial sync on the standby stay within their budgets', async () => {
    const p = await newPair();
    for (const [i, d] of ['alpha', 'beta', 'gamma'].entries())
      writeDomain(p.prodLive, d, {
        services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 2200 + i }],
        users: ['u1', 'u2'],
      });
    await cliOk(['record', '-c', p.primary, '-m', 'start']);
    await cliOk(['sync', '-c', p.standby]);

    writeUser(p.prodLive, 'beta', 'u2', { home: '/data/moved' });
    const recordTrace = join(p.dir, 'record.trace.json');
    const syncTrace = join(p.dir, 'sync.trace.json');
    const rec = await traced(['record', '-c', p.primary], recordTrace);
    expect(rec).toMatch(/recorded [0-9a-f]{12} beta: user u2/);
    const sync = await traced(['sync', '-c', p.standby], syncTrace);
    expect(sync).toMatch(/^partial sync [0-9a-f]{12} -> [0-9a-f]{12}: loaded 1 domain/m);
    expect(readFileSync(join(p.failLive, 'domains', 'beta', 'users', 'u2.yaml'), 'utf8')).toContain('/data/moved');

    const recorded = gitProcesses(recordTrace);
    const synced = gitProcesses(syncTrace);
    // The trace must have seen the work, or a count of 0 would pass for an ideal.
    expect(recorded.some((a) => a.includes('push'))).toBe(true);
    expect(synced.some((a) => a.includes('fetch'))).toBe(true);
    expect(recorded.length, `record started:\n${recorded.join('\n')}`).toBeLessThanOrEqual(RECORD_BUDGET);
    expect(synced.length, `partial sync started:\n${synced.join('\n')}`).toBeLessThanOrEqual(PARTIAL_SYNC_BUDGET);
  });
});

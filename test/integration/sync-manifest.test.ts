import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliOk, inodeAndMtime, usePairs, writeDomain, writeUser, type Pair } from '../helpers/fixture.js';

/**
 * The manifest (rendered file -> blob id, for the drift check) is one shard per domain in the
 * state dir. A full sync leaves a shard that already says the same, rewrites a changed one, and
 * removes the shards of domains the target no longer has.
 */
const pair = usePairs();
const shardDir = (p: Pair) => join(p.dir, 'fail-state', 'manifest', 'domains');
const shard = (p: Pair, d: string) => join(shardDir(p), `${d}.json`);

async function drift(p: Pair): Promise<{ changed: string[]; missing: string[]; extra: string[] }> {
  return JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout).drift;
}

describe('manifest shards on a full sync', () => {
  it('keeps identical shards untouched, rewrites changed ones, removes those of deleted domains', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    writeDomain(p.prodLive, 'beta', { users: ['bob'] });
    await cliOk(['record', '-c', p.primary]);
    await cliOk(['sync', '-c', p.standby]);
    expect(readdirSync(shardDir(p)).sort()).toEqual(['acme.json', 'beta.json']);
    expect(await drift(p)).toEqual({ changed: [], missing: [], extra: [] });

    // Nothing changed: a full sync leaves both shards as they are.
    const before = { acme: inodeAndMtime(shard(p, 'acme')), beta: inodeAndMtime(shard(p, 'beta')) };
    await new Promise((r) => setTimeout(r, 20)); // so a rewrite would show in mtime
    await cliOk(['sync', '-c', p.standby, '--full']);
    expect(inodeAndMtime(shard(p, 'acme'))).toBe(before.acme);
    expect(inodeAndMtime(shard(p, 'beta'))).toBe(before.beta);

    // alice changes and beta goes: acme's shard is rewritten with alice's new blob id, beta's removed.
    writeUser(p.prodLive, 'acme', 'alice', { home: '/data/elsewhere' });
    rmSync(join(p.prodLive, 'domains', 'beta'), { recursive: true });
    await cliOk(['record', '-c', p.primary]);
    const oldAcme = readFileSync(shard(p, 'acme'), 'utf8');
    await cliOk(['sync', '-c', p.standby, '--full']);
    expect(existsSync(shard(p, 'beta'))).toBe(false);
    expect(readdirSync(shardDir(p))).toEqual(['acme.json']);
    expect(readFileSync(shard(p, 'acme'), 'utf8')).not.toBe(oldAcme);
    expect(await drift(p)).toEqual({ changed: [], missing: [], extra: [] });
  });
});

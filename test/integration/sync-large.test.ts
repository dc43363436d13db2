import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliOk, git, inodeAndMtime, snapshot, usePairs, writeDomain, writeFile } from '../helpers/fixture.js';

const pair = usePairs();

/**
 * A sync that reads thousands of files checks and renders them on worker threads
 * (src/sync/check-pool.ts). These run the real CLI, so the built worker is what runs.
 */
describe('a sync of thousands of files (worker threads)', () => {
  it('refuses a full sync whole when one file of thousands is bad, then applies the fix exactly like production', async () => {
    const p = await pair();
    // 130 domains x (domain, services, 20 users) = 2,860 files: more than one read batch of 2,000.
    const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
    for (let i = 0; i < 130; i++) {
      writeDomain(p.prodLive, `d${i}`, {
        services: [{ name: 'sftp', protocol: 'sftp', ip: i % 2 ? '10.0.0.5' : '10.0.0.6', port: 2000 + i }],
        users,
      });
    }
    await cliOk(['record', '-c', p.primary]);

    // A bad user file deep in the tree, pushed past the primary with plain git.
    const work = join(p.dir, 'work');
    await git(['clone', '-q', p.remote, work]);
    writeFile(join(work, 'domains/d117/users/u13.yaml'), 'name: someone-else\nhome: /data/x\n');
    await git(['-C', work, 'commit', '-qam', 'a bad user file']);
    await git(['-C', work, 'push', '-q', 'origin', 'HEAD:main']);

    const bad = await cli(['sync', '-c', p.standby]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/domains\/d117\/users\/u13\.yaml:1:\d+: .*differs from the file name/);
    expect(bad.stderr).toMatch(/Nothing was applied/);
    // Nothing half-applied: no domain reached the live dir.
    expect(existsSync(join(p.failLive, 'domains')) ? readdirSync(join(p.failLive, 'domains')) : []).toEqual([]);
    // Domains built in staging while the rest was checked are gone with the refusal.
    expect(existsSync(join(p.failLive, '.gitfailover-staging'))).toBe(false);

    await git(['-C', work, 'revert', '--no-edit', 'HEAD']);
    await git(['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
    const good = await cliOk(['sync', '-c', p.standby]);
    expect(good.stdout).toMatch(/full sync/);

    // Every file as production has it, except services.yaml with 10.0.0.5 substituted.
    const prod = snapshot(p.prodLive, (rel) => rel.startsWith('.'));
    const fail = snapshot(p.failLive, (rel) => rel.startsWith('.'));
    expect(Object.keys(fail).sort()).toEqual(Object.keys(prod).sort());
    expect(Object.keys(prod).length).toBeGreaterThan(2000);
    for (const [rel, content] of Object.entries(prod)) {
      if (rel.endsWith('services.yaml') && content.includes('10.0.0.5'))
        expect(fail[rel]).toBe(content.replaceAll('10.0.0.5', '10.1.0.5'));
      else expect(fail[rel], rel).toBe(content);
    }
    expect(readFileSync(join(p.failLive, 'domains/d1/services.yaml'), 'utf8')).toContain('10.1.0.5');
    // The full sync drops each domain's bytes once staged: its manifest shard (no drift), its
    // bindings and its files' passes in the known-good list are what it keeps of it.
    const status = JSON.parse((await cliOk(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.drift).toEqual({ changed: [], missing: [], extra: [] });
    const stateDir = join(p.dir, 'fail-state');
    const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as { bindingsFile: string };
    const bindings = JSON.parse(readFileSync(join(stateDir, state.bindingsFile), 'utf8'));
    expect(Object.keys(bindings)).toHaveLength(130);
    expect(bindings.d1).toEqual(['10.1.0.5:2001']);
    expect(bindings.d0).toEqual(['10.0.0.6:2000']);
    const known = readFileSync(join(stateDir, 'checked-blobs'), 'utf8').split('\n').filter(Boolean);
    expect(known.length).toBeGreaterThan(130 * 22);

    // A full sync again (warm: every blob known good) puts back a file changed by hand and
    // leaves the domains that already match untouched (same inode and mtime).
    const edited = join(p.failLive, 'domains/d42/users/u3.yaml');
    writeFile(edited, 'name: u3\nhome: /tampered\n');
    const untouched = join(p.failLive, 'domains/d90/users/u1.yaml');
    const before = inodeAndMtime(untouched);
    await cliOk(['sync', '-c', p.standby, '--disable']);
    await cliOk(['sync', '-c', p.standby, '--full']);
    expect(readFileSync(edited, 'utf8')).toBe(prod['domains/d42/users/u3.yaml']);
    expect(inodeAndMtime(untouched)).toBe(before);
    expect(existsSync(join(p.failLive, '.gitfailover-staging'))).toBe(false);
  }, 240_000); // three syncs of thousands of files: over the default 60 s on a loaded machine
});

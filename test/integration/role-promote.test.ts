// One of the role-*.test.ts files, split by scenario so that two workers share the long role scenarios.
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, writeDomain, writeFile, writeUser, type Pair, usePairs, cliOk } from '../helpers/fixture.js';
import { remoteFile, remotePrimary } from '../helpers/remote.js';

const pair = usePairs();
const ok = cliOk;

/** A node file beside the pair's, as a YAML patch of an existing one. */
function nodeFile(p: Pair, name: string, from: string, patch: Record<string, unknown>): string {
  const file = join(p.dir, `${name}.yaml`);
  writeFile(file, stringify({ ...(parse(readFileSync(from, 'utf8')) as object), ...patch }));
  return file;
}

describe('promote and demote', () => {
  it('two standbys promoting at the same moment: exactly one succeeds', async () => {
    const p = await pair();
    const standby2 = nodeFile(p, 'standby2', p.standby, {
      node: 'failover-2',
      repo: { remote: p.remote, stateDir: join(p.dir, 'fail2-state') },
      live: { dir: join(p.dir, 'fail2') },
    });
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    await ok(['sync', '-c', standby2]);

    const [a, b] = await Promise.all([cli(['promote', '-c', p.standby]), cli(['promote', '-c', standby2])]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    const loser = a.code === 0 ? b : a;
    const winner = a.code === 0 ? 'failover-1' : 'failover-2';
    expect(loser.stderr).toMatch(/promote refused: .*became the primary|promote refused: .*pushed to main first/);
    expect(await remotePrimary(p)).toMatchObject({ node: winner, epoch: 2 });
    const loserFile = a.code === 0 ? standby2 : p.standby;
    expect(JSON.parse((await ok(['status', '-c', loserFile, '--json'])).stdout).role).toBe('standby');
    expect((await git(['--git-dir', p.remote, 'log', '--format=%s', 'main'])).match(/^promote/gm)).toHaveLength(1);
  }, 120_000);

  it('promote --offline commits locally; a conflicting history is reported, not overwritten', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);

    renameSync(p.remote, `${p.remote}.away`);
    const online = await cli(['promote', '-c', p.standby]);
    expect(online.code).toBe(1);
    expect(online.stderr).toMatch(/promote --offline/);
    const off = await ok(['promote', '-c', p.standby, '--offline']);
    expect(off.stdout).toMatch(/not pushed yet/);
    expect(JSON.parse((await ok(['status', '-c', p.standby, '--json'])).stdout)).toMatchObject({
      role: 'primary',
      unpushed: 1,
    });
    renameSync(`${p.remote}.away`, p.remote);

    // Production recorded meanwhile (it never saw the outage): the failover's role commit conflicts.
    writeUser(p.prodLive, 'acme', 'bob');
    await ok(['record', '-c', p.primary]);
    writeUser(p.failLive, 'acme', 'carol');
    const r = await cli(['record', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/rejected/);
    expect(await remotePrimary(p)).toMatchObject({ node: 'prod-1', epoch: 1 });
    expect(await remoteFile(p, 'domains/acme/users/bob.yaml')).toContain('bob');
  }, 120_000);

  it('refuses a substitution map that cannot be reversed', async () => {
    const p = await pair({ standby: { substitution: { ips: { '10.0.0.5': '10.1.0.5', '10.0.0.6': '10.1.0.5' } } } });
    writeDomain(p.prodLive, 'acme');
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const r = await cli(['promote', '-c', p.standby]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot be reversed/);
    expect(await remotePrimary(p)).toMatchObject({ node: 'prod-1', epoch: 1 });
  }, 120_000);
});

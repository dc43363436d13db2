import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadNodeFile } from '../../src/config/load.js';
import { vrrpNotify, withRoleLock } from '../../src/role/vrrp.js';
import { cli, cliOk, git, type Pair, usePairs, writeDomain, writeUser } from '../helpers/fixture.js';

/**
 * keepalived's hooks (`gitfailover vrrp ...`) and its track_script (`ready --quiet`) on real repos,
 * without keepalived: the guarantees that are the tool's, not the network's. The network itself is
 * test/e2e/keepalived.test.ts.
 */

const pair = usePairs();
const ok = cliOk;
const remotePrimary = async (p: Pair) =>
  parse(await git(['--git-dir', p.remote, 'show', 'main:.gitfailover/primary'])) as { node: string; epoch: number };
const roleOf = (stateDir: string) =>
  (JSON.parse(readFileSync(join(stateDir, 'role.json'), 'utf8')) as { role: string }).role;
const vrrpOutcomes = (stateDir: string) =>
  readFileSync(join(stateDir, 'vrrp.log'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { state: string; action?: string; detail?: string })
    .filter((l) => l.action);

/** Production records acme; the failover syncs it; both node files are standbys a hook may promote. */
async function started(): Promise<Pair & { events: string }> {
  const p = await pair();
  const events = join(p.dir, 'events.log');
  writeDomain(p.prodLive, 'acme', {
    services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
    users: ['alice'],
  });
  await ok(['record', '-c', p.primary, '-m', 'acme']);
  await ok(['sync', '-c', p.standby]);
  const standby = parse(readFileSync(p.standby, 'utf8')) as Record<string, unknown>;
  writeFileSync(
    p.standby,
    stringify({
      ...standby,
      triggers: [
        {
          on: 'role.lost',
          exec: ['/bin/sh', '-c', 'echo "$GITFAILOVER_EVENT $GITFAILOVER_PRIMARY $GITFAILOVER_ORPHAN" >> "$0"', events],
        },
      ],
    }),
  );
  return { ...p, events };
}

describe('gitfailover vrrp (keepalived notify hooks)', () => {
  it('master promotes once (a second master changes nothing), backup on a standby is a no-op, ready --quiet answers for the address', async () => {
    const p = await started();
    const fs = join(p.dir, 'fail-state');
    expect((await ok(['vrrp', 'backup', '-c', p.standby])).stdout).toMatch(/vrrp backup: already-standby/);
    expect((await cli(['ready', '--quiet', '-c', p.standby])).code).toBe(0);

    const m = await ok(['vrrp', 'master', '-c', p.standby]);
    expect(m.stdout).toMatch(/vrrp master: promoted: promoted to primary \(epoch 2, was prod-1\)/);
    const head = (await git(['--git-dir', p.remote, 'rev-parse', 'main'])).trim();
    expect(await remotePrimary(p)).toMatchObject({ node: 'failover-1', epoch: 2 });
    expect(await git(['--git-dir', p.remote, 'log', '-1', '--format=%an%n%B', 'main'])).toMatch(
      /^keepalived\n[\s\S]*VRRP master/,
    );

    const again = await ok(['vrrp', 'master', '-c', p.standby]);
    expect(again.stdout).toMatch(/vrrp master: already-primary: already the primary \(epoch 2\)/);
    expect((await git(['--git-dir', p.remote, 'rev-parse', 'main'])).trim()).toBe(head);
    // The primary the repo names keeps the address: the track_script passes (plain `ready` asks "take over?" and says no).
    expect((await cli(['ready', '--quiet', '-c', p.standby])).code).toBe(0);
    expect((await cli(['ready', '-c', p.standby])).code).toBe(1);
    // A primary the repo still names keeps the role on backup (both nodes start as BACKUP).
    expect((await ok(['vrrp', 'backup', '-c', p.standby])).stdout).toMatch(/vrrp backup: kept-role/);
    expect(roleOf(fs)).toBe('primary');
    expect(vrrpOutcomes(fs).map((o) => `${o.state} ${o.action}`)).toEqual([
      'backup already-standby',
      'master promoted',
      'master already-primary',
      'backup kept-role',
    ]);
  }, 240_000);

  it("the hook keepalived spawned last wins, whatever order they run in; a hook waits for a person's promote (role lock) and gives up at its timeout", async () => {
    const p = await started();
    const cfg = loadNodeFile({ file: p.standby });
    const dir = join(cfg.repo.stateDir, 'vrrp.d');
    mkdirSync(dir, { recursive: true });
    // keepalived spawned master, then backup; the master hook gets to run only after backup announced itself.
    writeFileSync(join(dir, `${'2'.padStart(20, '0')}-0000000002`), 'backup\n');
    const r = await vrrpNotify(cfg, 'master', { timeoutMs: 30_000, seq: `${'1'.padStart(20, '0')}-0000000001` });
    expect(r).toMatchObject({ action: 'superseded', failed: false });
    expect(r.detail).toMatch(/announced backup after this/);
    expect(existsSync(join(cfg.repo.stateDir, 'role.json'))).toBe(false);

    // A person's promote holds the role lock: the hook waits, and here gives up at its timeout with nothing changed.
    const head = (await git(['--git-dir', p.remote, 'rev-parse', 'main'])).trim();
    await withRoleLock(cfg, async () => {
      const blocked = await cli(['vrrp', 'master', '--timeout', '1500ms', '-c', p.standby]);
      expect(blocked.code).toBe(1);
      expect(blocked.stderr).toMatch(/role lock held by another gitfailover process/);
    });
    expect((await git(['--git-dir', p.remote, 'rev-parse', 'main'])).trim()).toBe(head);
    expect(existsSync(join(cfg.repo.stateDir, 'role.json'))).toBe(false);
    expect((await cli(['vrrp', 'sideways', '-c', p.standby])).code).toBe(2);
  }, 240_000);

  it('split brain: the loser of the role commit demotes on fault, keeps its unrecorded edit on a pushed orphan branch, fires role.lost, and stays off the address until it hears the winner', async () => {
    const p = await started();
    const fs = join(p.dir, 'fail-state');
    await ok(['vrrp', 'master', '-c', p.standby]); // failover-1 primary, epoch 2
    // Production (its node file says primary) takes the role back behind the failover's back: epoch 3.
    await ok(['demote', '-c', p.primary]);
    await ok(['promote', '-c', p.primary, '--reason', 'the other side of a partition']);
    expect(await remotePrimary(p)).toMatchObject({ node: 'prod-1', epoch: 3 });

    // An edit on the failover that no record will take in any more.
    writeUser(p.failLive, 'acme', 'dave');
    const rec = await cli(['record', '-c', p.standby]);
    expect(rec.code).toBe(1); // the fence: the repo names prod-1
    const lost = await ok(['vrrp', 'fault', '-c', p.standby]);
    expect(lost.stdout).toMatch(/vrrp fault: lost: lost the role to prod-1 \(epoch 3\) and demoted/);
    expect(roleOf(fs)).toBe('standby');
    const orphan = (
      await git([
        '--git-dir',
        p.remote,
        'for-each-ref',
        '--format=%(refname:short)',
        'refs/heads/gitfailover/orphaned/',
      ])
    ).trim();
    expect(orphan).toMatch(/^gitfailover\/orphaned\/failover-1-/);
    expect(await git(['--git-dir', p.remote, 'show', `${orphan}:domains/acme/users/dave.yaml`])).toMatch(/dave/);
    expect(readFileSync(p.events, 'utf8')).toContain(`role.lost prod-1 ${orphan}`);
    expect(existsSync(join(fs, 'role-lost.json'))).toBe(true);

    // Off the address while it has not heard from the winner; a heartbeat from prod-1 after the loss clears it.
    expect((await cli(['ready', '--quiet', '-c', p.standby])).code).toBe(1);
    const master = await cli(['vrrp', 'master', '-c', p.standby]);
    expect(master.code).toBe(1);
    expect(master.stderr).toMatch(/not promoting: failover-1 lost the role to prod-1/);
    const head = (await git(['--git-dir', p.remote, 'rev-parse', 'main'])).trim();
    writeFileSync(
      join(fs, 'heartbeat.json'),
      JSON.stringify({ time: new Date().toISOString(), node: 'prod-1', commit: head }),
    );
    expect((await cli(['ready', '--quiet', '-c', p.standby])).code).toBe(0);
    expect(existsSync(join(fs, 'role-lost.json'))).toBe(false);
  }, 240_000);

  it('master while the remote does not answer promotes offline; fault on a primary the repo still names demotes it', async () => {
    const p = await started();
    renameSync(p.remote, `${p.remote}.away`);
    const r = await ok(['vrrp', 'master', '-c', p.standby]);
    expect(r.stdout).toMatch(/vrrp master: promoted-offline: promoted to primary offline \(epoch 2\)/);
    expect(roleOf(join(p.dir, 'fail-state'))).toBe('primary');
    renameSync(`${p.remote}.away`, p.remote);
    // The remote is back: the next master (or record) pushes the role commit.
    expect((await ok(['vrrp', 'master', '-c', p.standby])).stdout).toMatch(
      /already-primary: already the primary \(epoch 2\); pushed its role change/,
    );
    expect(await remotePrimary(p)).toMatchObject({ node: 'failover-1', epoch: 2 });
    const f = await ok(['vrrp', 'fault', '-c', p.standby]);
    expect(f.stdout).toMatch(/vrrp fault: demoted: demoted to standby \(keepalived fault\)/);
    expect(roleOf(join(p.dir, 'fail-state'))).toBe('standby');
  }, 240_000);
});

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { git } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';
import {
  clientLogin,
  GITFAILOVER_BIN,
  killNode,
  lastAnnounced,
  makeVipPair,
  note,
  removeVipPair,
  roleOf,
  sftpLogin,
  startDaemon,
  startKeepalived,
  startProftpd,
  vipHolders,
  vrrpLog,
  waitFor,
  writeUserFile,
  type VipPair,
} from '../helpers/vip-pair.js';
import { execIn, LAN, setLink, splitNodes } from '../helpers/netns.js';

/**
 * Automatic takeover on a network of its own (test/helpers/netns.ts): production and failover each
 * run a ProFTPD, a gitfailover daemon and a keepalived in their own namespace, behind one virtual
 * address; a client namespace logs in on it over FTP, and over SFTP with strict host key checking
 * against a known_hosts that holds only production's host key: production's key is a declared secret
 * in the repo, encrypted to both nodes, and each node's ProFTPD reads it decrypted from its live dir,
 * so the failover answers with it after the takeover. keepalived's hooks are the tool's own
 * (`gitfailover vrrp ...`, `ready --quiet`), rendered from templates/keepalived/.
 * GF_KEEP_VIP_DIR=1 keeps the folder with every process's log for a post-mortem.
 */

const system = requireSystem([
  'keepalived',
  'iproute2',
  'proftpd-core',
  'proftpd-mod-crypto',
  'curl',
  'openssl',
  'openssh-client',
]);
const root = process.getuid?.() === 0;
if (!root) console.warn('\n*** SKIPPED test/e2e/keepalived.test.ts: needs root (ip netns, ProFTPD) ***\n');

const remoteHead = async (p: VipPair, ref = 'main') => (await git(['--git-dir', p.remote, 'rev-parse', ref])).trim();
const remoteFile = async (p: VipPair, rev: string, path: string) =>
  git(['--git-dir', p.remote, 'show', `${rev}:${path}`]).catch(() => '');
const primaryFile = async (p: VipPair) => remoteFile(p, 'main', '.gitfailover/primary');

describe.skipIf(!system.ok || !root)('keepalived moves the virtual address; the repo stays fenced', () => {
  let p: VipPair;

  beforeAll(async () => {
    p = await makeVipPair({ advertInt: 0.1 });
    // Production's keepalived first, so that it is the one elected at the cluster's start.
    await startKeepalived(p, 'prod');
    await waitFor(
      'production holding the virtual address and promoted',
      () => vrrpLog(p, 'prod').some((l) => l.action === 'promoted'),
      300_000,
    );
    await startKeepalived(p, 'fail');
  }, 400_000);

  afterAll(() => {
    if (p) removeVipPair(p);
  });

  it('at the start keepalived elects production: it holds the address, is the repo primary, and serves alice', async () => {
    expect(vipHolders(p)).toEqual(['prod']);
    expect(await primaryFile(p)).toMatch(/node: prod-1\nepoch: 1\n/);
    expect(vrrpLog(p, 'prod').some((l) => l.action === 'promoted')).toBe(true);
    await waitFor('alice logging in on the virtual address', async () => (await clientLogin(p, 'alice')) === 0);
    expect(await sftpLogin(p, 'alice')).toBe(0);
    // The control: the same client with another key in its known_hosts is refused (curl 51: key mismatch).
    expect(await sftpLogin(p, 'alice', p.wrongClientHome)).not.toBe(0);
    // The failover stays a standby in BACKUP and follows.
    await waitFor('the failover in BACKUP', () => vrrpLog(p, 'fail').some((l) => l.state === 'backup'), 300_000);
    expect(roleOf(p, 'fail')).not.toBe('primary');
  }, 300_000);

  it('production dies: the failover takes the address and the role, alice logs in on it; a user added there is recorded in production terms', async () => {
    const t0 = Date.now();
    killNode(p, 'prod');
    note(p, 'production killed');
    await waitFor(
      'a login on the virtual address after production died',
      async () => (await clientLogin(p, 'alice', 1)) === 0,
      120_000,
    );
    note(p, `first login after ${Date.now() - t0}ms`);
    expect(vipHolders(p)).toEqual(['fail']);
    // The failover answers with production's host key (decrypted from the repo): the pinned client logs in.
    expect(await sftpLogin(p, 'alice')).toBe(0);
    expect(await sftpLogin(p, 'alice', p.wrongClientHome)).not.toBe(0);
    // The hook ends after the domains started (the login above), once its events are sent.
    await waitFor('the master hook done', () => vrrpLog(p, 'fail').some((l) => l.action === 'promoted'), 300_000);
    expect(roleOf(p, 'fail')).toBe('primary');
    expect(await primaryFile(p)).toMatch(/node: failover-1\nepoch: 2\n/);

    // carol added on the failover's live dir (its own address in services.yaml): recorded in production's.
    const before = await remoteHead(p);
    expect(readFileSync(join(p.live.fail, 'domains/acme/services.yaml'), 'utf8')).toContain(LAN.fail);
    writeUserFile(p, p.live.fail, 'carol');
    await waitFor(
      'the failover recording carol',
      async () => (await remoteFile(p, 'main', 'domains/acme/users/carol.yaml')) !== '',
    );
    const head = await remoteHead(p);
    expect(head).not.toBe(before);
    const services = await remoteFile(p, head, 'domains/acme/services.yaml');
    expect(services).toContain(LAN.prod);
    expect(services).not.toContain(LAN.fail);
    expect(await git(['--git-dir', p.remote, 'log', '-1', '--format=%B', head])).toMatch(/Node: failover-1/);
  }, 300_000);

  it('production comes back: it does not take the address back and does not record; it demotes and follows', async () => {
    const head = await remoteHead(p);
    setLink(p.net, 'prod', true);
    await startProftpd(p, 'prod');
    await startDaemon(p, 'prod');
    await startKeepalived(p, 'prod');
    await waitFor('production losing the role', () => vrrpLog(p, 'prod').at(-1)?.action === 'lost', 300_000);
    expect(roleOf(p, 'prod')).toBe('standby');
    // Its daemon, still acting as primary, finds the repo names the failover: the track file says no
    // (FAULT), and the fault hook loses the role; it records nothing meanwhile (the fence refuses).
    expect(vrrpLog(p, 'prod').at(-1)).toMatchObject({ action: 'lost' });
    expect(vrrpLog(p, 'prod').at(-1)?.detail).toMatch(/lost the role to failover-1 \(epoch 2\)/);
    // Caught up, its track_script passed (keepalived ran the backup hook after it): it could take the address now.
    await waitFor(
      'production a ready BACKUP',
      () => lastAnnounced(p, 'prod') === 'backup' && roleOf(p, 'prod') === 'standby',
      300_000,
    );
    const ready = () =>
      execIn(p.net, 'prod', process.execPath, [GITFAILOVER_BIN, 'ready', '--quiet', '-c', p.nodeFile.prod]);
    await waitFor('production ready', async () => (await ready()).code === 0, 300_000);
    await new Promise((r) => setTimeout(r, 5_000)); // two more track_script runs: nopreempt keeps it BACKUP
    expect(vipHolders(p)).toEqual(['fail']);
    expect(await clientLogin(p, 'alice')).toBe(0); // still served by the failover
    expect(await sftpLogin(p, 'alice')).toBe(0); // and over SFTP, on production's host key
    const log = await git(['--git-dir', p.remote, 'log', '--format=%H %s', `${head}..main`]);
    expect(log).toBe(''); // production recorded nothing, pushed no role change
    expect(await primaryFile(p)).toMatch(/node: failover-1\nepoch: 2\n/);
  }, 300_000);

  it('split brain (the link between the nodes down, both up): the role commit decides, the loser demotes and keeps its edit on an orphan branch', async () => {
    splitNodes(p.net, true);
    note(p, 'nodes split');
    // Production no longer hears the failover: it takes the address and the role (epoch 3).
    await waitFor(
      'production promoting itself in the partition',
      async () => /node: prod-1\nepoch: 3\n/.test(await primaryFile(p)),
      120_000,
    );
    // An edit on the failover that no record can take in any more: the fence refuses it.
    writeUserFile(p, p.live.fail, 'dave');
    note(p, 'dave written');
    await waitFor('the failover losing the role', () => vrrpLog(p, 'fail').at(-1)?.action === 'lost', 300_000);
    expect(roleOf(p, 'fail')).toBe('standby');
    const lost = vrrpLog(p, 'fail').find((l) => l.action === 'lost');
    expect(lost?.detail).toMatch(/lost the role to prod-1 \(epoch 3\)/);
    expect(existsSync(join(p.state.fail, 'role-lost.json'))).toBe(true);
    const orphans = (
      await git([
        '--git-dir',
        p.remote,
        'for-each-ref',
        '--format=%(refname:short)',
        'refs/heads/gitfailover/orphaned/',
      ])
    )
      .split('\n')
      .filter((b) => b.includes('failover-1'));
    expect(orphans).toHaveLength(1);
    expect(await remoteFile(p, orphans[0]!, 'domains/acme/users/dave.yaml')).toContain('dave');
    expect(await remoteFile(p, 'main', 'domains/acme/users/dave.yaml')).toBe('');
    expect(await remoteFile(p, 'main', 'domains/acme/users/carol.yaml')).toContain('carol');

    // The partition over: the failover hears production again, forgets the loss and stays BACKUP; one writer.
    splitNodes(p.net, false);
    await waitFor(
      'the failover clearing its loss after a heartbeat from production',
      () => !existsSync(join(p.state.fail, 'role-lost.json')),
      120_000,
    );
    await waitFor('one holder of the virtual address', () => vipHolders(p).join() === 'prod', 30_000);
    expect(roleOf(p, 'prod')).toBe('primary');
    expect(roleOf(p, 'fail')).toBe('standby');
    await waitFor('alice logging in on production again', async () => (await clientLogin(p, 'alice')) === 0);
  }, 400_000);
});

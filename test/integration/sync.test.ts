import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cli,
  git,
  inodeAndMtime,
  removeDir,
  snapshot,
  writeDomain,
  writeFile,
  writeUser,
  usePairs,
  cliOk,
} from '../helpers/fixture.js';

const pair = usePairs();

/** A commit pushed past the primary by a person with push rights: a clone, the files, a push. */
async function pushPast(p: { dir: string; remote: string }, files: Record<string, string>): Promise<void> {
  const work = join(p.dir, 'push-past');
  rmSync(work, { recursive: true, force: true });
  await git(['clone', '-q', p.remote, work]);
  for (const [path, content] of Object.entries(files)) writeFile(join(work, path), content);
  await git(['-C', work, 'add', '-A']);
  await git(['-C', work, 'commit', '-q', '-m', 'pushed past the primary']);
  await git(['-C', work, 'push', '-q', 'origin', 'HEAD:main']);
}
const ok = cliOk;

const liveOnly = (rel: string) => rel.startsWith('.gitfailover');

describe('standby sync', () => {
  it('replicates a recorded change with every production IP substituted, and reports behind: 0', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', {
      services: [
        { name: 'sftp-main', protocol: 'sftp', ip: '10.0.0.5', port: 22 },
        { name: 'ftps-v6', protocol: 'ftps', ip: '2001:DB8:0:0::5', port: 990 },
        { name: 'other', protocol: 'ftp', ip: '10.0.0.50', port: 21 },
      ],
      users: ['alice'],
    });
    await ok(['record', '-c', p.primary]);
    const r = await ok(['sync', '-c', p.standby]);
    expect(r.stdout).toMatch(/full sync/);

    const services = readFileSync(join(p.failLive, 'domains/acme/services.yaml'), 'utf8');
    expect(services).toContain('ip: 10.1.0.5');
    expect(services).toContain('ip: 2001:db8:1::5');
    expect(services).toContain('ip: 10.0.0.50'); // not a mapped address: untouched
    expect(services).not.toMatch(/ip: 10\.0\.0\.5\n/);
    expect(readFileSync(join(p.failLive, 'domains/acme/users/alice.yaml'), 'utf8')).toBe(
      readFileSync(join(p.prodLive, 'domains/acme/users/alice.yaml'), 'utf8'),
    );

    const status = JSON.parse((await ok(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.behind).toBe(0);
    expect(status.appliedCommit).toBe(status.targetCommit);
    expect(status.lastSync.success).toBe(true);
    expect(status.node).toBe('failover-1');
    expect(status.role).toBe('standby');
    expect(status.drift).toEqual({ changed: [], missing: [], extra: [] });
    expect(existsSync(join(p.failLive, '.gitfailover'))).toBe(false);
  });

  it('partial sync rewrites only the changed domain and loads it once', async () => {
    const _loadLog = 'LOADLOG';
    const p = await pair();
    const logFile = join(p.dir, 'load.log');
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({ commands: { load: ['/bin/sh', '-c', 'echo "$GITFAILOVER_DOMAIN" >> "$LOG"'] } }).replace(
          /\$LOG/,
          logFile,
        ),
    );
    for (let i = 0; i < 50; i++)
      writeDomain(p.prodLive, `d${String(i).padStart(2, '0')}`, {
        services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 2000 + i }],
        users: ['u1', 'u2'],
      });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    expect(readFileSync(logFile, 'utf8').trim().split('\n')).toHaveLength(50);
    writeFileSync(logFile, '');

    const before = new Map<string, string>();
    for (const f of Object.keys(snapshot(p.failLive, liveOnly))) before.set(f, inodeAndMtime(join(p.failLive, f)));
    await new Promise((r) => setTimeout(r, 20)); // so a rewrite would show in mtime
    writeUser(p.prodLive, 'd07', 'u1', { home: '/data/elsewhere' });
    await ok(['record', '-c', p.primary]);
    const r = await ok(['sync', '-c', p.standby]);
    expect(r.stdout).toMatch(/partial sync .* loaded 1 domain/);

    expect(readFileSync(logFile, 'utf8')).toBe('d07\n');
    expect(readFileSync(join(p.failLive, 'domains/d07/users/u1.yaml'), 'utf8')).toContain('/data/elsewhere');
    for (const [f, stamp] of before) {
      if (f.startsWith('domains/d07/')) continue;
      expect(inodeAndMtime(join(p.failLive, f)), f).toBe(stamp);
    }
    expect(inodeAndMtime(join(p.failLive, 'domains/d07/users/u1.yaml'))).not.toBe(
      before.get('domains/d07/users/u1.yaml'),
    );
  });

  it('full sync removes a domain that exists only on the standby and reloads every domain', async () => {
    const p = await pair();
    const logFile = join(p.dir, 'cmd.log');
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({
          commands: {
            load: ['/bin/sh', '-c', `echo "load $GITFAILOVER_DOMAIN" >> ${logFile}`],
            delete: ['/bin/sh', '-c', `echo "delete $GITFAILOVER_DOMAIN" >> ${logFile}`],
          },
        }),
    );
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    writeDomain(p.prodLive, 'beta', { users: ['bob'] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    writeDomain(p.failLive, 'stray', { users: ['mallory'] });
    writeFileSync(logFile, '');

    const r = await ok(['sync', '-c', p.standby, '--full']);
    expect(r.stdout).toMatch(/full sync/);
    expect(existsSync(join(p.failLive, 'domains/stray'))).toBe(false);
    expect(readFileSync(logFile, 'utf8').trim().split('\n').sort()).toEqual(['delete stray', 'load acme', 'load beta']);
  });

  it('sync --disable while a sync runs waits for it, and the sync does not undo the switch', async () => {
    const p = await pair({ standby: { sync: { automatic: true } } });
    const marker = join(p.dir, 'loading');
    // The load command says it has started, then holds the sync (and its lock) for a moment.
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({ commands: { load: ['/bin/sh', '-c', `touch ${marker}; sleep 1.5`] } }),
    );
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await ok(['record', '-c', p.primary]);
    const syncing = cli(['sync', '-c', p.standby]);
    const deadline = Date.now() + 20_000;
    while (!existsSync(marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(marker)).toBe(true);
    const disable = await ok(['sync', '-c', p.standby, '--disable']);
    expect(disable.stdout).toMatch(/automatic sync disabled/);
    expect((await syncing).code).toBe(0);
    // Before the lock, the sync saved the state it had read before --disable, and the switch was lost.
    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.automatic).toBe(false);
    expect(status.disabledReason).toMatch(/disabled by an operator/);
  });

  it('refuses --full while automatic sync is enabled, and says how to disable it', async () => {
    const p = await pair({ standby: { sync: { automatic: true } } });
    writeDomain(p.prodLive, 'acme');
    await ok(['record', '-c', p.primary]);
    const r = await cli(['sync', '-c', p.standby, '--full']);
    expect(r.code).toBe(2); // a usage error (issue 19): exit 2, no event
    expect(r.stderr).toMatch(/automatic sync is enabled.*sync --disable/);
    expect(existsSync(join(p.failLive, 'domains/acme'))).toBe(false);
  });

  it('refuses a commit with broken YAML pushed straight to the remote, keeps the live dir byte-identical, and disables automatic sync', async () => {
    const eventFile = 'EVENT';
    const p = await pair({
      standby: {
        sync: { automatic: true, disableOnFailure: true },
        triggers: [
          {
            on: 'sync',
            if: 'success == false',
            exec: [
              process.execPath,
              '-e',
              'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))',
              eventFile,
            ],
          },
        ],
      },
    });
    const eventPath = join(p.dir, 'event.json');
    writeFileSync(p.standby, readFileSync(p.standby, 'utf8').replace(eventFile, eventPath));
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const good = snapshot(p.failLive);

    // An admin pushes straight to the remote, bypassing record and CI.
    const work = join(p.dir, 'work');
    await git(['clone', '-q', p.remote, work]);
    writeFile(join(work, 'domains/acme/users/alice.yaml'), 'name: alice\nhome: [unclosed\n');
    await git(['commit', '-qam', 'break alice'], work);
    await git(['push', '-q', 'origin', 'HEAD:main'], work);
    const bad = (await git(['rev-parse', 'HEAD'], work)).trim();

    // The daemon's kind of sync (not on demand): run the standby briefly.
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('domains/acme/users/alice.yaml');
    expect(r.stderr).toContain(bad.slice(0, 12));
    expect(snapshot(p.failLive)).toEqual(good);

    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.lastSync.success).toBe(false);
    expect(status.lastSync.errorFile).toBe('domains/acme/users/alice.yaml');
    expect(status.lastSync.errorCommit).toBe(bad);
    expect(status.appliedCommit).not.toBe(bad);
    expect(status.automatic).toBe(false);
    expect(status.disabledReason).toContain('alice.yaml');

    const env = JSON.parse(readFileSync(eventPath, 'utf8'));
    expect(env.GITFAILOVER_SUCCESS).toBe('false');
    expect(env.GITFAILOVER_ERROR).toContain('domains/acme/users/alice.yaml');
    expect(env.GITFAILOVER_ERROR_COMMIT ?? env.GITFAILOVER_ERRORCOMMIT).toBe(bad);
  });

  it('refuses a partial sync onto rewritten history and says a full sync is needed', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const work = join(p.dir, 'work');
    await git(['clone', '-q', p.remote, work]);
    writeFile(join(work, 'domains/acme/users/zed.yaml'), 'name: zed\n');
    await git(['add', '.'], work);
    await git(['commit', '-q', '--amend', '-m', 'rewritten'], work);
    await git(['push', '-q', '--force', 'origin', 'HEAD:main'], work);
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not descend.*sync --full/);
    expect(existsSync(join(p.failLive, 'domains/acme/users/zed.yaml'))).toBe(false);
    await ok(['sync', '-c', p.standby, '--full']);
    expect(existsSync(join(p.failLive, 'domains/acme/users/zed.yaml'))).toBe(true);
  });

  it('--dry-run prints the plan and a unified diff, and changes nothing', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 2222 }] });
    await ok(['record', '-c', p.primary]);
    const before = snapshot(p.failLive);
    const r = await ok(['sync', '-c', p.standby, '--dry-run']);
    expect(r.stdout).toMatch(/load: +acme/);
    expect(r.stdout).toContain('-    port: 22');
    expect(r.stdout).toContain('+    port: 2222');
    expect(snapshot(p.failLive)).toEqual(before);
    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.behind).toBe(1);
  });

  it('a failing commands.check puts the domain back as it was and quarantines the commit', async () => {
    const p = await pair();
    const checkLog = join(p.dir, 'check.log');
    // The check fails when the domain's services.yaml has port 2222.
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({
          commands: {
            check: [
              '/bin/sh',
              '-c',
              `echo "$GITFAILOVER_DOMAIN" >> ${checkLog}; ! grep -q 2222 "$GITFAILOVER_DIR/services.yaml"`,
            ],
          },
        }),
    );
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    writeDomain(p.prodLive, 'beta', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 23 }] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const good = snapshot(p.failLive);
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 2222 }] });
    await ok(['record', '-c', p.primary]);
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/health check of domain acme failed.*quarantined/);
    expect(snapshot(p.failLive)).toEqual(good);
    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.quarantined.commit).toBe(status.targetCommit);
    expect(status.quarantined.domains).toEqual(['acme']);
  });

  it("refuses a domain whose triggers.yaml is invalid, and fires a domain's own trigger for its domain only", async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    writeDomain(p.prodLive, 'beta', { users: ['bob'] });
    writeFile(
      join(p.prodLive, 'domains/beta/triggers.yaml'),
      stringify({ triggers: [{ on: 'sync', if: 'success == false', webhook: { url: 'http://127.0.0.1:9/never' } }] }),
    );
    const invalid = stringify({
      triggers: [{ on: 'sync', if: 'success ==', webhook: { url: 'http://127.0.0.1:9/x' } }],
    });
    writeFile(join(p.prodLive, 'domains/acme/triggers.yaml'), invalid);
    // The primary refuses to record what a standby would refuse (one admission rule set)...
    const refused = await cli(['record', '-c', p.primary]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('domains/acme/triggers.yaml');
    expect(refused.stderr).toContain('[E_TRIGGERS]');
    rmSync(join(p.prodLive, 'domains/acme/triggers.yaml'));
    await ok(['record', '-c', p.primary]);
    // ...so a person with push rights pushes it past the primary.
    await pushPast(p, { 'domains/acme/triggers.yaml': invalid });
    const bad = await cli(['sync', '-c', p.standby]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('domains/acme/triggers.yaml');
    expect(existsSync(join(p.failLive, 'domains/acme'))).toBe(false);

    // Fixed: the domain's trigger (an e-mail-free webhook to a receiver of the test) fires for acme's sync.
    const { createServer } = await import('node:http');
    const received: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        received.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    // A domain's webhooks go only to hosts the node file allows (none by default).
    writeFile(
      p.standby,
      readFileSync(p.standby, 'utf8') + stringify({ domainTriggers: { allowHosts: [`127.0.0.1:${port}`] } }),
    );
    await pushPast(p, {
      'domains/acme/triggers.yaml': stringify({
        triggers: [{ on: 'sync', webhook: { url: `http://127.0.0.1:${port}/acme` } }],
      }),
    });
    await ok(['sync', '-c', p.standby]);
    expect(received).toHaveLength(1);
    expect(JSON.parse(received[0]!).domains).toContain('acme');
    await pushPast(p, { 'domains/beta/users/carol.yaml': stringify({ name: 'carol', home: '/data/carol' }) });
    await ok(['sync', '-c', p.standby]);
    expect(received, "a sync touching only beta does not fire acme's trigger").toHaveLength(1);
    server.close();
  });

  it('a failing commands.load puts back everything the sync had changed: deleted domains, other files, loaded domains', async () => {
    const p = await pair();
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({
          commands: {
            load: [
              '/bin/sh',
              '-c',
              'test "$GITFAILOVER_DOMAIN" != beta || test ! -e "$GITFAILOVER_DIR/users/bob2.yaml"',
            ],
          },
        }),
    );
    for (const d of ['acme', 'beta', 'gamma']) writeDomain(p.prodLive, d, { users: ['u'] });
    writeFile(join(p.prodLive, 'native/motd.txt'), 'welcome v1\n');
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const good = snapshot(p.failLive);

    removeDir(join(p.prodLive, 'domains/gamma'));
    writeFile(join(p.prodLive, 'native/motd.txt'), 'welcome v2\n');
    writeFile(join(p.prodLive, 'native/new.txt'), 'new\n');
    writeUser(p.prodLive, 'acme', 'alice2');
    writeUser(p.prodLive, 'beta', 'bob2'); // beta's load command fails on this
    await ok(['record', '-c', p.primary]);
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/commands\.load for domain beta/);
    expect(snapshot(p.failLive)).toEqual(good);
  });
});

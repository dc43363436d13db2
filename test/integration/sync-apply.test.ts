// One of the sync-*.test.ts scenario files, split so that two workers share the long sync scenarios.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cli, inodeAndMtime, snapshot, writeDomain, writeUser, usePairs, cliOk } from '../helpers/fixture.js';

const pair = usePairs();

const liveOnly = (rel: string) => rel.startsWith('.gitfailover');

const ok = cliOk;

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
});

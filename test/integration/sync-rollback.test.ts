// One of the sync-*.test.ts scenario files, split so that two workers share the long sync scenarios.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cli,
  git,
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

describe('standby sync', () => {
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
  }, 120_000);

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

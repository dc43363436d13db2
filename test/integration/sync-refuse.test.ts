// One of the sync-*.test.ts scenario files, split so that two workers share the long sync scenarios.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cli, git, snapshot, writeDomain, writeFile, usePairs, cliOk } from '../helpers/fixture.js';

const pair = usePairs();

const ok = cliOk;

describe('standby sync', () => {
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
});

// One of the sync-*.test.ts scenario files, split so that two workers share the long sync scenarios.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  it('turns a global file into a folder and a folder into a file (partial, full, rolled back), refusing only what the applied commit did not put there', async () => {
    const p = await pair();
    const marker = join(p.dir, 'reload-fails');
    // A reload that fails while the marker exists: the apply is then rolled back.
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') + stringify({ commands: { reload: ['/bin/sh', '-c', `test ! -e ${marker}`] } }),
    );
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const work = join(p.dir, 'work');
    await git(['clone', '-q', p.remote, work]);
    const push = async (msg: string) => {
      await git(['add', '-A', '.'], work);
      await git(['commit', '-qm', msg], work);
      await git(['push', '-q', 'origin', 'HEAD:main'], work);
      return (await git(['rev-parse', 'HEAD'], work)).trim();
    };
    const asFile = () => {
      rmSync(join(work, 'motd'), { recursive: true, force: true });
      rmSync(join(work, 'xdir'), { recursive: true, force: true });
      writeFile(join(work, 'motd'), 'hello\n');
      writeFile(join(work, 'xdir/a.txt'), 'a\n');
      writeFile(join(work, 'xdir/sub/b.txt'), 'b\n');
    };
    const asFolder = () => {
      rmSync(join(work, 'motd'), { recursive: true, force: true });
      rmSync(join(work, 'xdir'), { recursive: true, force: true });
      writeFile(join(work, 'motd/banner.txt'), 'hi\n');
      writeFile(join(work, 'xdir'), 'now a file\n');
    };
    const globals = () => snapshot(p.failLive, (rel) => rel.startsWith('.gitfailover') || rel.startsWith('domains'));
    asFile();
    await push('motd a file, xdir a folder');
    await ok(['sync', '-c', p.standby]);
    await ok(['sync', '-c', p.primary]);
    const before = globals();
    expect(before).toEqual({ motd: 'hello\n', 'xdir/a.txt': 'a\n', 'xdir/sub/b.txt': 'b\n' });

    // motd file -> folder, xdir folder -> file; a failure after the swap puts both back.
    asFolder();
    await push('motd becomes a folder, xdir a file');
    writeFileSync(marker, '');
    const failed = await cli(['sync', '-c', p.standby]);
    expect(failed.code).toBe(1);
    expect(globals()).toEqual(before);
    rmSync(marker);
    await ok(['sync', '-c', p.standby]);
    const after = { 'motd/banner.txt': 'hi\n', xdir: 'now a file\n' };
    expect(globals()).toEqual(after);
    // The primary takes the same change in from the remote.
    await ok(['sync', '-c', p.primary]);
    expect(readFileSync(join(p.prodLive, 'motd/banner.txt'), 'utf8')).toBe('hi\n');
    expect(readFileSync(join(p.prodLive, 'xdir'), 'utf8')).toBe('now a file\n');

    // And back, by a full sync.
    asFile();
    await push('and back');
    await ok(['sync', '-c', p.standby, '--full']);
    expect(globals()).toEqual(before);

    // Something the applied commit did not put there is in the way: refused, partial and full, nothing applied.
    writeFile(join(p.failLive, 'xdir/sub/stray.txt'), 'mine\n');
    writeFileSync(join(p.failLive, 'motd'), 'edited by hand\n');
    asFolder();
    const bad = await push('again');
    const live = snapshot(p.failLive);
    for (const args of [[], ['--full']]) {
      const r = await cli(['sync', '-c', p.standby, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(bad.slice(0, 12));
      expect(r.stderr).toMatch(
        /file under motd, which is a file in the live dir .* that was changed since the commit applied it/,
      );
      expect(snapshot(p.failLive)).toEqual(live);
    }
    writeFileSync(join(p.failLive, 'motd'), 'hello\n');
    for (const args of [[], ['--full']]) {
      const r = await cli(['sync', '-c', p.standby, ...args]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /xdir in commit .*a folder in the live dir .*xdir\/sub\/stray\.txt in it is not in the applied commit/,
      );
      expect(snapshot(p.failLive)).toEqual({ ...live, motd: 'hello\n' });
    }
    rmSync(join(p.failLive, 'xdir/sub/stray.txt'));
    await ok(['sync', '-c', p.standby]);
    expect(globals()).toEqual(after);

    // A crafted commit making a live domain a file is the commit's fault, refused before the live dir's shape.
    rmSync(join(work, 'domains/acme'), { recursive: true });
    writeFile(join(work, 'domains/acme'), 'not a domain\n');
    await push('domain as a file');
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/domains\/acme in commit .*a file directly in domains\//);
    expect(r.stderr).not.toMatch(/move what is in the way/);
    expect(existsSync(join(p.failLive, 'domains/acme/users/alice.yaml'))).toBe(true);
  });
});

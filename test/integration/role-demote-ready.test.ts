// One of the role-*.test.ts files, split by scenario so that two workers share the long role scenarios.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cli, git, writeDomain, writeFile, writeUser, usePairs, cliOk } from '../helpers/fixture.js';

const pair = usePairs();
const ok = cliOk;

describe('promote and demote', () => {
  it('an unpushed commit at demote survives on the orphan branch, pushed too, and status reports it', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);

    // The remote is unreachable from production when it records B: B stays in its clone.
    renameSync(p.remote, `${p.remote}.away`);
    writeUser(p.prodLive, 'acme', 'bob');
    const rec = await cli(['record', '-c', p.primary, '-m', 'B']);
    expect(rec.stderr).toMatch(/unpushed: 1/);
    renameSync(`${p.remote}.away`, p.remote);
    const lost = (await git(['--git-dir', join(p.dir, 'prod-state', 'repo.git'), 'rev-parse', 'main'])).trim();

    await ok(['promote', '-c', p.standby]);
    const d = await ok(['demote', '-c', p.primary]);
    expect(d.stdout).toMatch(
      /orphaned: 1 commit\(s\) .* branch gitfailover\/orphaned\/prod-1-\d{8}T\d{6}Z .*pushed to the remote/,
    );
    expect(existsSync(join(p.prodLive, 'domains/acme/users/bob.yaml'))).toBe(false); // the repo's configuration now

    const s = JSON.parse((await ok(['status', '-c', p.primary, '--json'])).stdout);
    expect(s.role).toBe('standby');
    expect(s.unpushed).toBe(0);
    expect(s.orphaned).toHaveLength(1);
    expect(s.orphaned[0]).toMatchObject({ commit: lost, commits: 1 });
    expect((await cli(['status', '-c', p.primary])).stdout).toMatch(/orphaned: +gitfailover\/orphaned\/prod-1-/);
    const remoteRefs = await git(['--git-dir', p.remote, 'for-each-ref', '--format=%(refname) %(objectname)']);
    expect(remoteRefs).toContain(`refs/heads/${s.orphaned[0].branch} ${lost}`);
    expect(await git(['--git-dir', p.remote, 'show', `${lost}:domains/acme/users/bob.yaml`])).toContain('bob');
  }, 120_000);
});

describe('ready', () => {
  it('exit 0 only when applied = remote head, no drift, checks pass', async () => {
    const p = await pair();
    const failing = join(p.dir, 'failing');
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({ commands: { check: ['/bin/sh', '-c', 'test ! -e "$0"', failing] } }),
    );
    writeDomain(p.prodLive, 'acme');
    await ok(['record', '-c', p.primary]);

    const before = await cli(['ready', '-c', p.standby]);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/^FAIL +applied/m);

    await ok(['sync', '-c', p.standby]);
    const r = await cli(['ready', '-c', p.standby, '--json']);
    expect(r.code, r.stdout).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ready).toBe(true);
    expect(j.checks.map((c: { name: string }) => c.name)).toEqual([
      'role',
      'remote',
      'applied',
      'last sync',
      'drift',
      'substitution',
      'quarantine',
      'heartbeat',
      'check acme',
    ]);

    writeUser(p.prodLive, 'acme', 'bob');
    await ok(['record', '-c', p.primary]);
    expect((await cli(['ready', '-c', p.standby])).stdout).toMatch(/^FAIL +applied .*behind: 1/m);
    await ok(['sync', '-c', p.standby]);

    writeFile(join(p.failLive, 'domains/acme/domain.yaml'), 'name: acme\nenabled: false\n');
    const drift = await cli(['ready', '-c', p.standby]);
    expect(drift.code).toBe(1);
    expect(drift.stdout).toMatch(/^FAIL +drift +1 file/m);
    expect(drift.stdout).toMatch(/NOT ready/);
    await ok(['sync', '-c', p.standby, '--full']);

    writeFileSync(failing, '');
    const check = await cli(['ready', '-c', p.standby]);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/^FAIL +check acme +commands.check/m);
  }, 120_000);
});

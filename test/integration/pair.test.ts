import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, cliOk as ok, git, startCli, usePairs, writeDomain, writeUser, type Pair } from '../helpers/fixture.js';

/** Issue 19, "Why": each block provokes one of the failures an operator met, with real repos and processes. */
const pair = usePairs();
const appendArgv = (file: string, what: string) => ['/bin/sh', '-c', `echo "${what}" >> "$0"`, file];
const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : []);
const head = async (p: Pair) => (await git(['--git-dir', p.remote, 'rev-parse', 'main'])).trim();
const statusJson = async (file: string) =>
  JSON.parse((await cli(['status', '-c', file, '--json', '--no-fetch'])).stdout);

function patchNode(file: string, patch: Record<string, unknown>): void {
  writeFileSync(file, stringify({ ...(parse(readFileSync(file, 'utf8')) as object), ...patch }));
}

describe('errors carry their kind, and recovery commands keep their word', () => {
  it('transient failures leave automatic on; usage errors exit 2 silently; --to pins; --enable syncs; a good sync clears the quarantine; --disable stays', async () => {
    const p = await pair();
    const events = join(p.dir, 'events.log');
    const started = join(p.dir, 'started.log');
    const failing = join(p.dir, 'failing');
    patchNode(p.standby, {
      sync: { automatic: true },
      commands: {
        check: ['/bin/sh', '-c', 'test ! -e "$0"', failing],
        start: appendArgv(started, '$GITFAILOVER_DOMAIN'),
      },
      triggers: [
        { on: 'sync', exec: appendArgv(events, '$GITFAILOVER_SUCCESS $GITFAILOVER_TRANSIENT $GITFAILOVER_ERROR_CODE') },
      ],
    });
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await ok(['record', '-c', p.primary, '-m', 'A']);
    const a = await head(p);
    writeUser(p.prodLive, 'acme', 'bob');
    await ok(['record', '-c', p.primary, '-m', 'B']);
    await ok(['sync', '-c', p.standby]);

    // An unreachable remote is transient: the sync event says so, automatic sync stays on, status exits 4.
    renameSync(p.remote, `${p.remote}.away`);
    const down = await cli(['sync', '-c', p.standby]);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/transient failure: automatic sync stays on/);
    expect(lines(events).at(-1)).toBe('false true E_REMOTE');
    const st = await cli(['status', '-c', p.standby, '--json', '--no-fetch']);
    expect(st.code).toBe(4);
    expect(JSON.parse(st.stdout)).toMatchObject({ automatic: true, problem: 'E_LAST_SYNC_FAILED' });
    renameSync(`${p.remote}.away`, p.remote);

    // A usage error: exit 2, nothing e-mailed or executed, nothing recorded.
    const before = lines(events).length;
    const full = await cli(['sync', '-c', p.standby, '--full']);
    expect(full.code).toBe(2);
    expect(full.stderr).toMatch(/full sync is refused while automatic sync is enabled/);
    expect(lines(events)).toHaveLength(before);

    // --to an older commit is a pin, said in true words; --enable un-pins and syncs now.
    const pin = await ok(['sync', '-c', p.standby, '--to', a]);
    expect(pin.stdout).toMatch(/pinned to [0-9a-f]{12}, older than the remote head: automatic sync is off/);
    expect(pin.stderr).not.toMatch(/rewritten/);
    expect(existsSync(join(p.failLive, 'domains/acme/users/bob.yaml'))).toBe(false);
    expect(await statusJson(p.standby)).toMatchObject({ automatic: false, pinned: { commit: a } });
    const en = await ok(['sync', '-c', p.standby, '--enable']);
    expect(en.stdout).toMatch(/un-pinned from [0-9a-f]{12}; automatic sync enabled on failover-1; syncing now/);
    expect(en.stdout).toMatch(/partial sync [0-9a-f]{12} -> [0-9a-f]{12}: loaded 1 domain/);
    expect(existsSync(join(p.failLive, 'domains/acme/users/bob.yaml'))).toBe(true);
    expect(await statusJson(p.standby)).toMatchObject({ automatic: true, pinned: null });

    // A failed check is content: quarantine, automatic off; a good on-demand sync clears both.
    writeFileSync(failing, '');
    writeUser(p.prodLive, 'acme', 'carol');
    await ok(['record', '-c', p.primary, '-m', 'C']);
    expect((await cli(['sync', '-c', p.standby])).code).toBe(1);
    expect(lines(events).at(-1)).toBe('false false E_CHECK_FAILED');
    expect(await statusJson(p.standby)).toMatchObject({ automatic: false, quarantined: { commit: await head(p) } });
    expect((await cli(['ready', '-c', p.standby])).stdout).toMatch(/^FAIL +quarantine/m);
    rmSync(failing);
    const good = await ok(['sync', '-c', p.standby]);
    expect(good.stdout).toMatch(/automatic sync re-enabled on failover-1/);
    const ready = await cli(['ready', '-c', p.standby]);
    expect(ready.code, ready.stdout).toBe(0);
    expect((await cli(['status', '-c', p.standby])).code).toBe(0);

    // An explicit --disable is not undone by a successful sync --full.
    await ok(['sync', '-c', p.standby, '--disable']);
    const f2 = await ok(['sync', '-c', p.standby, '--full']);
    expect(f2.stdout).toMatch(/automatic sync stays off \(disabled by an operator/);
    expect(await statusJson(p.standby)).toMatchObject({ automatic: false });
    const en2 = await ok(['sync', '-c', p.standby, '--enable']);
    expect(en2.stdout).toMatch(/up to date at/);
    expect(await statusJson(p.standby)).toMatchObject({ automatic: true });

    // sync --start on an up-to-date failover starts every domain with the plain files loader.
    await ok(['sync', '-c', p.standby, '--start']);
    expect(lines(started)).toEqual(['acme']);
  }, 180_000);
});

describe('promote and demote are safe by default', () => {
  it('promote refuses on drift unless --force (and says so); demote keeps an unrecorded edit on the pushed orphan branch and stops its domains', async () => {
    const p = await pair();
    const stopped = join(p.dir, 'stopped.log');
    patchNode(p.standby, { commands: { stop: appendArgv(stopped, '$GITFAILOVER_DOMAIN') } });
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);

    writeUser(p.failLive, 'acme', 'alice', { home: '/data/hand-edited' });
    const refused = await cli(['promote', '-c', p.standby]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /promote refused: failover-1 is not ready to take over \(drift: 1 file\(s\).*alice\.yaml/,
    );
    expect(refused.stderr).toMatch(/promote --force/);
    expect(parse(await git(['--git-dir', p.remote, 'show', 'main:.gitfailover/primary']))).toMatchObject({
      node: 'prod-1',
      epoch: 1,
    });

    const forced = await ok(['promote', '-c', p.standby, '--force']);
    expect(forced.stderr).toMatch(/promoted with --force over: drift: 1 file/);
    expect(await git(['--git-dir', p.remote, 'log', '-1', '--format=%B', 'main'])).toMatch(/--force over: drift/);

    // Failback: production follows, takes the role back; the failover demotes with an edit it never recorded.
    await ok(['demote', '-c', p.primary]);
    await ok(['promote', '-c', p.primary, '--reason', 'failback']);
    writeUser(p.failLive, 'acme', 'zed');
    const d = await ok(['demote', '-c', p.standby]);
    expect(d.stdout).toMatch(
      /an unrecorded live edit \(.*domains\/acme\/users\/zed\.yaml.*\) was kept as commit [0-9a-f]{12}/,
    );
    expect(d.stdout).toMatch(
      /orphaned: 1 commit\(s\) .*gitfailover\/orphaned\/failover-1-\d{8}T\d{6}Z .*pushed to the remote/,
    );
    expect(lines(stopped)).toEqual(['acme']);
    expect(existsSync(join(p.failLive, 'domains/acme/users/zed.yaml'))).toBe(false);
    const branch = /branch (gitfailover\/orphaned\/\S+)/.exec(d.stdout)![1]!;
    expect(await git(['--git-dir', p.remote, 'show', `${branch}:domains/acme/users/zed.yaml`])).toContain('zed');
    // Kept in production's terms, like any record.
    expect(await git(['--git-dir', p.remote, 'show', `${branch}:domains/acme/services.yaml`])).toContain('10.0.0.5');
  }, 180_000);
});

describe('one readiness, and a node file reloaded in place', () => {
  it('/readyz and ready agree through a quarantine and its recovery; SIGHUP reloads (an invalid file is kept out); doctor sees an unreloaded file', async () => {
    const p = await pair();
    const failing = join(p.dir, 'failing');
    const events = join(p.dir, 'events.log');
    patchNode(p.standby, {
      sync: { automatic: true, interval: '300ms' },
      notify: { listen: '127.0.0.1:0' },
      commands: { check: ['/bin/sh', '-c', 'test ! -e "$0"', failing] },
    });
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    await ok(['record', '-c', p.primary]);
    const agent = await startCli(['standby', '-c', p.standby], /full sync/);
    const address = /standby ready on (\S+):/.exec(agent.output())![1]!;
    const readyz = async () => {
      const r = await fetch(`http://${address}/readyz`);
      return { status: r.status, body: (await r.json()) as { ready: boolean; reason: string } };
    };
    const until = async (what: () => Promise<boolean>) => {
      for (let i = 0; i < 300 && !(await what()); i++) await new Promise((r) => setTimeout(r, 100));
    };
    try {
      await until(async () => (await readyz()).status === 200);
      expect((await readyz()).status).toBe(200);
      expect((await cli(['ready', '-c', p.standby])).code).toBe(0);

      writeFileSync(failing, '');
      writeUser(p.prodLive, 'acme', 'bob');
      await ok(['record', '-c', p.primary]);
      await until(async () => /quarantine/.test((await readyz()).body.reason));
      const bad = await readyz();
      expect(bad.status).toBe(503);
      expect(bad.body.reason).toMatch(/^quarantine: commit [0-9a-f]{12} is quarantined/);
      expect((await cli(['ready', '-c', p.standby])).code).toBe(1);

      rmSync(failing);
      await ok(['sync', '-c', p.standby]);
      await until(async () => (await readyz()).status === 200);
      expect((await readyz()).body).toMatchObject({ ready: true });
      expect((await cli(['ready', '-c', p.standby])).code).toBe(0);

      // An invalid node file is not taken; doctor says the running daemon's file differs from the disk's.
      const good = readFileSync(p.standby, 'utf8');
      writeFileSync(p.standby, good.replace(/interval: 300ms/, 'interval: banana'));
      agent.child.kill('SIGHUP');
      await until(async () => /was not reloaded/.test(agent.output()));
      expect(agent.output()).toMatch(
        /SIGHUP: .*standby\.yaml was not reloaded, the daemon keeps the configuration it runs with/,
      );
      writeFileSync(
        p.standby,
        good + stringify({ triggers: [{ on: 'sync', exec: appendArgv(events, '$GITFAILOVER_TO_COMMIT') }] }),
      );
      expect((await cli(['doctor', '-c', p.standby])).stdout).toMatch(
        /^warn {2}daemon: gitfailover standby \(pid \d+\) runs an older .*standby\.yaml/m,
      );

      agent.child.kill('SIGHUP');
      await until(async () => /SIGHUP: reloaded/.test(agent.output()));
      expect((await cli(['doctor', '-c', p.standby])).stdout).toMatch(
        /^ok {4}daemon: gitfailover standby \(pid \d+\) runs .* as it is on disk/m,
      );
      // The new trigger is in force without a restart.
      writeUser(p.prodLive, 'acme', 'carol');
      await ok(['record', '-c', p.primary]);
      const target = await head(p);
      await until(async () => lines(events).includes(target));
      expect(lines(events)).toContain(target);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((r) => agent.child.once('exit', r));
    }
  }, 180_000);
});

import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, writeDomain, writeFile, writeUser, type Pair, usePairs, cliOk } from '../helpers/fixture.js';

const pair = usePairs();
const ok = cliOk;

/** A node file beside the pair's, as a YAML patch of an existing one. */
function nodeFile(p: Pair, name: string, from: string, patch: Record<string, unknown>): string {
  const file = join(p.dir, `${name}.yaml`);
  writeFile(file, stringify({ ...(parse(readFileSync(from, 'utf8')) as object), ...patch }));
  return file;
}

const remoteFile = async (p: Pair, path: string) => git(['--git-dir', p.remote, 'show', `main:${path}`]);
const remotePrimary = async (p: Pair) =>
  parse(await remoteFile(p, '.gitfailover/primary')) as { node: string; epoch: number };

describe('promote and demote', () => {
  it('full cycle: failover, records in production terms, split-brain refusal, failback, nothing lost', async () => {
    const p = await pair();
    const startLog = join(p.dir, 'start.log');
    const events = join(p.dir, 'events.log');
    const appendArgv = (file: string, what: string) => ['/bin/sh', '-c', `echo "${what}" >> "$0"`, file];
    // The failover starts its domains on promote, and substitutes inside native configs too.
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({
          commands: { start: appendArgv(startLog, '$GITFAILOVER_DOMAIN') },
          triggers: [{ on: 'promote', exec: appendArgv(events, '$GITFAILOVER_EVENT $GITFAILOVER_NODE') }],
        }).replace(/^/, ''),
    );
    const sub = parse(readFileSync(p.standby, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      p.standby,
      stringify({ ...sub, substitution: { ...(sub.substitution as object), files: ['native/**/*.conf'] } }),
    );
    writeFileSync(
      p.primary,
      stringify({
        ...(parse(readFileSync(p.primary, 'utf8')) as object),
        triggers: [{ on: 'split-brain', exec: appendArgv(events, '$GITFAILOVER_EVENT $GITFAILOVER_PRIMARIES') }],
      }),
    );

    // A and B on production; the standby applies them.
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    writeFile(join(p.prodLive, 'native/acme/listen.conf'), 'Listen 10.0.0.5:2121\n');
    await ok(['record', '-c', p.primary, '-m', 'A']);
    writeUser(p.prodLive, 'acme', 'bob');
    await ok(['record', '-c', p.primary, '-m', 'B']);
    await ok(['sync', '-c', p.standby]);
    expect(readFileSync(join(p.failLive, 'domains/acme/services.yaml'), 'utf8')).toContain('10.1.0.5');

    // Production stops; the failover takes over.
    const ready = await cli(['ready', '-c', p.standby]);
    expect(ready.code, ready.stdout).toBe(0);
    const pr = await ok(['promote', '-c', p.standby, '--reason', 'prod-1 is down', '--actor', 'Ops <ops@example.com>']);
    expect(pr.stdout).toMatch(/failover-1 is the primary \(epoch 2, was prod-1\)/);
    expect(readFileSync(startLog, 'utf8').trim().split('\n')).toEqual(['acme']);
    expect(await remotePrimary(p)).toMatchObject({ node: 'failover-1', epoch: 2 });
    const st = JSON.parse((await ok(['status', '-c', p.standby, '--json'])).stdout);
    expect(st.role).toBe('primary');
    expect(st.unpushed).toBe(0);

    // C on the promoted node, with the failover's own addresses: the repo gets production's.
    writeUser(p.failLive, 'acme', 'carol');
    writeDomain(p.failLive, 'beta', { services: [{ name: 'ftps', protocol: 'ftps', ip: '10.1.0.5', port: 990 }] });
    writeFile(join(p.failLive, 'native/acme/listen.conf'), 'Listen 10.1.0.5:2121\nListen 10.1.0.5:2122\n');
    const c = await ok(['record', '-c', p.standby, '-m', 'C']);
    expect(c.stdout).toMatch(/pushed/);
    expect(await remoteFile(p, 'domains/beta/services.yaml')).toContain('ip: 10.0.0.5');
    expect(await remoteFile(p, 'native/acme/listen.conf')).toBe('Listen 10.0.0.5:2121\nListen 10.0.0.5:2122\n');
    expect(await remoteFile(p, 'domains/acme/services.yaml')).toContain('ip: 10.0.0.5');
    const changed = await git(['--git-dir', p.remote, 'show', '--name-only', '--format=', 'main']);
    expect(changed.trim().split('\n').sort()).toEqual([
      'domains/acme/users/carol.yaml',
      'domains/beta/domain.yaml',
      'domains/beta/services.yaml',
      'native/acme/listen.conf',
    ]);
    const all = await git(['--git-dir', p.remote, 'grep', '-l', '10.1.0.5', 'main']).catch(() => '');
    expect(all).toBe('');

    // Production returns believing it is primary: it refuses, and says so through its triggers.
    const refused = await cli(['record', '-c', p.primary]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/names failover-1 as primary \(epoch 2/);
    expect(refused.stderr).toMatch(/gitfailover demote/);
    expect(readFileSync(events, 'utf8')).toMatch(/split-brain prod-1\nfailover-1/);
    const split = await cli(['status', '-c', p.primary]);
    expect(split.stdout).toMatch(/SPLIT BRAIN/);
    expect(split.code).toBe(3); // README "Exit codes"
    expect(split.stdout).toMatch(/^ready: +no \(role: SPLIT BRAIN/m);

    // demote: production follows the repo and has A, B, C in its own terms.
    const d = await ok(['demote', '-c', p.primary]);
    expect(d.stdout).toMatch(/prod-1 is a standby, following failover-1 \(epoch 2\)/);
    expect(d.stdout).not.toMatch(/orphaned/);
    for (const u of ['alice', 'bob', 'carol'])
      expect(existsSync(join(p.prodLive, `domains/acme/users/${u}.yaml`))).toBe(true);
    expect(readFileSync(join(p.prodLive, 'domains/beta/services.yaml'), 'utf8')).toContain('ip: 10.0.0.5');
    expect(readFileSync(join(p.prodLive, 'native/acme/listen.conf'), 'utf8')).toBe(
      'Listen 10.0.0.5:2121\nListen 10.0.0.5:2122\n',
    );
    expect((await cli(['record', '-c', p.primary])).stderr).toMatch(/prod-1 is a standby/);
    expect(readFileSync(events, 'utf8')).toMatch(/promote failover-1/);

    // Failback: production promotes, the failover demotes; roles are as they started.
    await ok(['promote', '-c', p.primary, '--reason', 'failback']);
    expect(await remotePrimary(p)).toMatchObject({ node: 'prod-1', epoch: 3 });
    expect((await cli(['record', '-c', p.standby])).code).toBe(1); // failover still acts as primary: refused
    await ok(['demote', '-c', p.standby]);
    writeUser(p.prodLive, 'beta', 'erin');
    await ok(['record', '-c', p.primary, '-m', 'D']);
    await ok(['sync', '-c', p.standby]);
    expect(existsSync(join(p.failLive, 'domains/beta/users/erin.yaml'))).toBe(true);
    expect(readFileSync(join(p.failLive, 'domains/beta/services.yaml'), 'utf8')).toContain('ip: 10.1.0.5');
    expect(JSON.parse((await ok(['status', '-c', p.standby, '--json'])).stdout).role).toBe('standby');
    expect(JSON.parse((await ok(['status', '-c', p.primary, '--json'])).stdout).role).toBe('primary');

    // The history tells the story, oldest first.
    const story = (
      await git([
        '--git-dir',
        p.remote,
        'log',
        '--reverse',
        '--format=%s|%(trailers:key=Node,valueonly,separator=)',
        'main',
      ])
    )
      .trim()
      .split('\n');
    expect(story.map((l) => l.split('|')[1])).toEqual([
      'prod-1',
      'prod-1',
      'failover-1',
      'failover-1',
      'prod-1',
      'prod-1',
    ]);
    expect(story[2]).toMatch(/^promote failover-1 to primary \(epoch 2\)/);
    expect(story[4]).toMatch(/^promote prod-1 to primary \(epoch 3\)/);
    const body = await git(['--git-dir', p.remote, 'log', '-1', '--format=%B%an', 'main~3']);
    expect(body).toMatch(/prod-1 is down/);
    expect(body).toMatch(/Role-Change: promote\nPrimary: failover-1\nEpoch: 2\nPrevious-Primary: prod-1/);
    expect(body.trim()).toMatch(/Ops$/);
  }, 240_000);

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
  }, 60_000);

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
  }, 60_000);

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
  }, 60_000);

  it('refuses a substitution map that cannot be reversed', async () => {
    const p = await pair({ standby: { substitution: { ips: { '10.0.0.5': '10.1.0.5', '10.0.0.6': '10.1.0.5' } } } });
    writeDomain(p.prodLive, 'acme');
    await ok(['record', '-c', p.primary]);
    await ok(['sync', '-c', p.standby]);
    const r = await cli(['promote', '-c', p.standby]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot be reversed/);
    expect(await remotePrimary(p)).toMatchObject({ node: 'prod-1', epoch: 1 });
  }, 60_000);
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
  }, 60_000);
});

describe('gitfailover run: one process per node, switching role in place', () => {
  it('promote with the process running: it records and pushes, /readyz, /metrics and the page say primary; demote: it syncs again; same listener, no restart', async () => {
    const { startCli } = await import('../helpers/fixture.js');
    const p = await pair({
      standby: {
        sync: { automatic: true, interval: '300ms' },
        notify: { listen: '127.0.0.1:0' },
        record: { debounce: '100ms' },
      },
    });
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    const agent = await startCli(['run', '-c', p.standby], /full sync/);
    const address = /standby ready on (\S+):/.exec(agent.output())![1]!;
    const get = async (path: string) => {
      const r = await fetch(`http://${address}${path}`);
      return { status: r.status, text: await r.text() };
    };
    const readyz = async () => {
      const r = await get('/readyz');
      return { status: r.status, ...(JSON.parse(r.text) as { ready: boolean; reason: string }) };
    };
    const until = async (what: string, cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 300; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what} did not happen within 30s:\n${agent.output()}`);
    };
    const role = async () => JSON.parse((await get('/ui.json')).text).snapshot.role as string;
    try {
      await until('the failover ready to take over', async () => (await readyz()).status === 200);
      expect((await readyz()).reason).toMatch(/could take over/);
      expect((await get('/metrics')).text).toMatch(/gitfailover_info\{node="failover-1",role="standby"\} 1/);

      // Production is gone; the failover takes over while its process keeps running.
      await ok(['promote', '-c', p.standby]);
      await until('the switch to primary', () => /serving as primary on /.test(agent.output()));
      expect(agent.output()).toContain(`serving as primary on ${address}`);
      await until('/readyz of the primary', async () => /recording and pushing/.test((await readyz()).reason));
      expect((await readyz()).status).toBe(200);
      expect(await role()).toBe('primary');
      expect((await get('/metrics')).text).toMatch(/gitfailover_info\{node="failover-1",role="primary"\} 1/);
      expect((await get('/metrics')).text).toMatch(/^gitfailover_ready 1$/m);

      // A live edit on the failover is recorded by this same process, in production's terms, and pushed.
      writeDomain(p.failLive, 'beta', { services: [{ name: 'ftps', protocol: 'ftps', ip: '10.1.0.5', port: 990 }] });
      let beta = '';
      await until('the failover to record beta', async () => {
        beta = await remoteFile(p, 'domains/beta/services.yaml').catch(() => '');
        return beta !== '';
      });
      expect(beta).toContain('ip: 10.0.0.5');

      // Failback: production takes the role back; the running failover follows the demote and syncs production's commits.
      await ok(['demote', '-c', p.primary]);
      await ok(['promote', '-c', p.primary]);
      await ok(['demote', '-c', p.standby]);
      await until('the switch back to standby', () => /demoted .*syncing again/.test(agent.output()));
      expect(await role()).toBe('standby');
      writeUser(p.prodLive, 'beta', 'erin');
      await ok(['record', '-c', p.primary]);
      await until('erin synced by the running failover', () =>
        existsSync(join(p.failLive, 'domains/beta/users/erin.yaml')),
      );
      await until('the failover ready as a standby', async () => /could take over/.test((await readyz()).reason));
      expect((await readyz()).status).toBe(200);
      expect((await get('/metrics')).text).toMatch(/gitfailover_info\{node="failover-1",role="standby"\} 1/);
      // The standby records nothing: the remote's last commit is production's.
      expect(await git(['--git-dir', p.remote, 'log', '-1', '--format=%s', 'main'])).toMatch(/add user erin/);
      // One process, one listener, from start to end.
      expect(agent.child.exitCode).toBeNull();
      expect(agent.output()).not.toMatch(/EADDRINUSE|cannot listen/);
      expect(agent.output().match(/standby ready on /g)).toHaveLength(1);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((r) => agent.child.once('exit', r));
    }
  }, 240_000);

  it('a promoted node that cannot record answers 503 with the reason and never syncs over its live dir; SIGHUP with a fixed file starts the recorder', async () => {
    const { startCli } = await import('../helpers/fixture.js');
    // notify.standbys without notify.secret: a standby runs with it, a primary refuses to (unsigned notifies).
    const p = await pair({
      standby: {
        sync: { automatic: true, interval: '300ms' },
        notify: { listen: '127.0.0.1:0', standbys: ['http://127.0.0.1:9/notify'] },
        record: { debounce: '100ms' },
      },
    });
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    const agent = await startCli(['run', '-c', p.standby], /full sync/);
    const address = /standby ready on (\S+):/.exec(agent.output())![1]!;
    const readyz = async () => {
      const r = await fetch(`http://${address}/readyz`);
      return { status: r.status, ...((await r.json()) as { reason: string }) };
    };
    const until = async (what: string, cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 300; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what} did not happen within 30s:\n${agent.output()}`);
    };
    try {
      await ok(['promote', '-c', p.standby]);
      await until('the refusal to record', () => /promoted, but cannot record: .*notify\.secret/.test(agent.output()));
      const z = await readyz();
      expect(z.status).toBe(503);
      expect(z.reason).toMatch(/^role: promoted, but cannot record: .*notify\.secret/);
      // No sync runs while it is promoted, though it cannot record: its live dir is the primary's.
      await new Promise((r) => setTimeout(r, 1_000)); // three sync intervals
      const afterSwitch = agent.output().slice(agent.output().indexOf('switching to primary behaviour'));
      expect(afterSwitch).not.toMatch(/ sync |sync error/);

      // The fixed node file, reloaded in place: the recorder starts, on the same listener.
      writeFile(
        p.standby,
        stringify({
          ...(parse(readFileSync(p.standby, 'utf8')) as Record<string, unknown>),
          notify: { listen: '127.0.0.1:0' },
        }),
      );
      agent.child.kill('SIGHUP');
      await until('the recorder', () => /serving as primary on /.test(agent.output()));
      expect(agent.output()).toContain(`serving as primary on ${address}`);
      await until('/readyz of the primary', async () => (await readyz()).status === 200);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((r) => agent.child.once('exit', r));
    }
  }, 240_000);
});

import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ProftpdLoader } from '../../src/loaders/proftpd/proftpd-loader.js';
import { cryptPassword, startProftpd, type ProftpdInstanceFiles } from '../../src/loaders/proftpd/instance.js';
import { cli, git, initRemote, makePair, removeDir, startCli, writeFile, type Pair } from '../helpers/fixture.js';
import {
  curl,
  FAIL_IP,
  filesOf,
  PROD_IP,
  skipProftpd,
  waitFor as waitUntil,
  writePrimaryNode,
  writeProftpdPair,
  writeStandbyNode,
} from '../helpers/proftpd-pair.js';

/**
 * The seed's failback as one drill: two real ProFTPD daemons (production on 127.0.0.2, the failover
 * on 127.0.0.3), one `gitfailover run` process per node, curl logging in over SFTP and FTPS.
 * Production is SIGKILLed (gitfailover and ProFTPD); the failover promotes in its running process;
 * a user is added there; production returns, is demoted (its unrecorded edit kept on an orphan
 * branch) and catches up; production promotes, the failover demotes and stops serving. Each stage's
 * time is printed (GF_FAILBACK_TIMES=<file> also writes them as JSON, for BENCHMARKS.md).
 */

const skip = skipProftpd('test/e2e/failback.test.ts', ['ftps', 'sftp']);

const SECRET = 'failback-drill-notify-secret-0123';
const env = { GF_SECRET: SECRET };
// High ports, offset by pid, away from proftpd.test.ts (20000+) and proftpd-secrets.test.ts (40000+).
const BASE = 30_000 + (process.pid % 2000) * 10;
const PORT = { sftp: BASE, ftps: BASE + 1 };

type Proto = 'ftps' | 'sftp';

/** curl logs in and lists the home folder: 0 on success, 67 when the login is refused, 7 when nothing listens. */
async function login(proto: Proto, ip: string, user: string, password: string): Promise<number> {
  const args = ['-sS', '--max-time', '8', '-u', `${user}:${password}`, '--insecure'];
  if (proto === 'ftps') args.push('--ssl-reqd'); // explicit FTPS (AUTH TLS), throwaway self-signed cert
  return (await curl([...args, `${proto === 'sftp' ? 'sftp' : 'ftp'}://${ip}:${PORT[proto]}/`])).code;
}

const waitFor = (what: string, check: () => boolean | Promise<boolean>) => waitUntil(what, check, 60_000);

type Running = Awaited<ReturnType<typeof startCli>>;

describe.skipIf(skip)('failback drill: two ProFTPD servers, one process per node', () => {
  let pair: Pair | undefined;
  const children: ChildProcess[] = [];

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    if (pair) removeDir(pair.dir);
  });

  it('production killed, failover promoted in place, a user added, production back and demoted, then failback: nothing lost, logins at every stage', async () => {
    const p = (pair = makePair());
    chmodSync(p.dir, 0o755); // the users' homes are inside: ProFTPD's sessions run as uid 65534
    await initRemote(p);
    const stages: { stage: string; ms: number }[] = [];
    let t0 = Date.now();
    const stage = (name: string) => {
      const ms = Date.now() - t0;
      stages.push({ stage: name, ms });
      console.log(`failback drill: ${name}: ${ms}ms`);
      t0 = Date.now();
    };

    const { prodFtpd, failFtpd, settings } = await writeProftpdPair({
      keys: join(p.dir, 'keys'),
      prod: join(p.dir, 'prod-proftpd'),
      fail: join(p.dir, 'fail-proftpd'),
    });
    const hashes = Object.fromEntries(
      await Promise.all(['alice', 'bob', 'zed'].map(async (u) => [u, await cryptPassword(`${u}-pw`)] as const)),
    );
    const userFile = (live: string, name: string) =>
      writeFile(
        join(live, 'domains/acme/users', `${name}.yaml`),
        stringify({
          name,
          passwordHash: hashes[name],
          home: join(p.dir, 'homes', name),
          permissions: ['read', 'write', 'list'],
        }),
      );
    const ftpd = async (f: ProftpdInstanceFiles) => {
      const c = await startProftpd(f);
      children.push(c);
      return c;
    };
    const run = async (nodeFile: string, ready: RegExp) => {
      const r = await startCli(['run', '-c', nodeFile], ready, { env });
      children.push(r.child);
      return r;
    };
    const addressOf = (r: Running) => /(?:standby ready|listening) on (\S+):/.exec(r.output())![1]!;
    const readyz = async (r: Running) => {
      const res = await fetch(`http://${addressOf(r)}/readyz`);
      return { status: res.status, ...((await res.json()) as { reason: string }) };
    };
    const untilReady = async (who: string, r: Running, reason: RegExp) => {
      await waitFor(`${who} /readyz: ${reason}`, async () => {
        const z = await readyz(r);
        return z.status === 200 && reason.test(z.reason);
      });
    };
    const logsIn = async (ip: string, user: string) => {
      for (const proto of ['sftp', 'ftps'] as const)
        expect(await login(proto, ip, user, `${user}-pw`), `${user} over ${proto} on ${ip}`).toBe(0);
    };
    const remoteHas = (path: string, rev = 'main') =>
      git(['--git-dir', p.remote, 'cat-file', '-e', `${rev}:${path}`]).then(
        () => true,
        () => false,
      );

    /**
     * A server admin's own step on the node that serves (production, or the failover while it is
     * the primary): the server serves what its live dir says, through the same loader. A primary
     * records its live dir; making its server read it is the admin's tool's job, as on the seed's MFT server.
     */
    const adminApply = async (live: string, node: string, f: ProftpdInstanceFiles) => {
      const loader = new ProftpdLoader(join(p.dir, `${node}-rendered`), 'domains', settings(f));
      const ctx = { node, commit: 'admin', start: true };
      const files = filesOf(join(live, 'domains/acme'));
      await loader.validate({ load: new Map([['acme', files]]), delete: [] }, ctx);
      loader.prepare(ctx);
      loader.writeDomain('acme', files);
      await loader.activate(ctx);
      loader.finish();
    };

    // Production as its admin set it up: acme with alice, served by its ProFTPD, recorded once.
    let prodFtpdProcess = await ftpd(prodFtpd);
    await ftpd(failFtpd);
    writeFile(join(p.prodLive, 'domains/acme/domain.yaml'), stringify({ name: 'acme', enabled: true }));
    writeFile(
      join(p.prodLive, 'domains/acme/services.yaml'),
      stringify({
        services: [
          { name: 'sftp-main', protocol: 'sftp', ip: PROD_IP, port: PORT.sftp },
          { name: 'ftps-main', protocol: 'ftps', ip: PROD_IP, port: PORT.ftps },
        ],
      }),
    );
    userFile(p.prodLive, 'alice');
    await adminApply(p.prodLive, 'prod-1', prodFtpd);

    const stopLog = join(p.dir, 'failover-stopped.log');
    writeStandbyNode(p, {
      record: { debounce: '100ms' },
      sync: { automatic: true, interval: '500ms', startAfterSync: false },
      notify: { listen: '127.0.0.1:0', secret: 'env:GF_SECRET' },
      commands: { stop: ['/bin/sh', '-c', 'echo "$GITFAILOVER_DOMAIN" >> "$0"', stopLog] },
      loader: 'proftpd',
      proftpd: settings(failFtpd),
    });
    const failover = await run(p.standby, /standby ready on/);
    writePrimaryNode(p, {
      record: { debounce: '100ms' },
      sync: { interval: '500ms', startAfterSync: false },
      notify: {
        listen: '127.0.0.1:0',
        standbys: [`http://${addressOf(failover)}/notify`],
        secret: 'env:GF_SECRET',
        heartbeat: '1s',
      },
      loader: 'proftpd',
      proftpd: settings(prodFtpd),
    });
    let production = await run(p.primary, /ready: watching/);
    await waitFor('the first commit on the remote', () => remoteHas('domains/acme/users/alice.yaml'));
    await untilReady('production', production, /recording and pushing/);
    await untilReady('the failover', failover, /could take over/);
    await logsIn(PROD_IP, 'alice');
    expect(await login('sftp', FAIL_IP, 'alice', 'alice-pw')).toBe(7); // the failover serves nothing yet
    stage('set-up (two ProFTPD, two nodes, first sync)');

    // 1. Production dies: its gitfailover and its ProFTPD, SIGKILLed. An edit made in its last
    // moments reached its live dir but was never recorded.
    production.child.kill('SIGKILL');
    prodFtpdProcess.kill('SIGKILL');
    await new Promise((r) => production.child.once('exit', r));
    userFile(p.prodLive, 'zed');
    expect(await login('sftp', PROD_IP, 'alice', 'alice-pw')).toBe(7);
    expect((await readyz(failover)).status).toBe(200);
    stage('production SIGKILLed');

    // 2. The failover takes over: the same process, no restart; its ProFTPD serves acme.
    const failPid = failover.child.pid;
    const promoted = await cli(['promote', '-c', p.standby, '--reason', 'production down'], { env });
    expect(promoted.code, promoted.stderr).toBe(0);
    await waitFor('the failover serving as primary', () => /serving as primary on /.test(failover.output()));
    await untilReady('the promoted failover', failover, /recording and pushing/);
    await logsIn(FAIL_IP, 'alice');
    stage('failover promoted (same process), serving');

    // 3. A user is added on the failover: recorded in production's terms by the running process.
    userFile(p.failLive, 'bob');
    await adminApply(p.failLive, 'failover-1', failFtpd);
    await waitFor('bob on the remote', () => remoteHas('domains/acme/users/bob.yaml'));
    const services = await git(['--git-dir', p.remote, 'show', 'main:domains/acme/services.yaml']);
    expect(services).toContain(PROD_IP);
    expect(services).not.toContain(FAIL_IP);
    await logsIn(FAIL_IP, 'bob');
    stage('user bob added on the failover, pushed');

    // 4. Production returns: its ProFTPD serves its old configuration, its gitfailover sees it is
    // not the repo's primary (a split brain, averted: nothing recorded, not ready).
    prodFtpdProcess = await ftpd(prodFtpd);
    production = await run(p.primary, /ready: watching/);
    await waitFor('production to see the split brain', async () =>
      /SPLIT BRAIN/.test((await readyz(production)).reason),
    );
    expect((await readyz(production)).status).toBe(503);
    expect(await remoteHas('domains/acme/users/zed.yaml')).toBe(false);
    await logsIn(FAIL_IP, 'alice');
    stage('production back, refusing to record');

    // 5. Production is demoted (its unrecorded edit kept on an orphan branch) and catches up.
    const demoted = await cli(['demote', '-c', p.primary], { env });
    expect(demoted.code, demoted.stderr).toBe(0);
    expect(demoted.stdout + demoted.stderr).toMatch(/unrecorded live edit/);
    await waitFor('production syncing again', () => /demoted .*syncing again/.test(production.output()));
    await waitFor('bob in production live dir', () => existsSync(join(p.prodLive, 'domains/acme/users/bob.yaml')));
    await untilReady('the demoted production', production, /could take over/);
    expect(existsSync(join(p.prodLive, 'domains/acme/users/zed.yaml'))).toBe(false);
    await logsIn(FAIL_IP, 'bob');
    stage('production demoted, caught up');

    // 6. Failback: production promotes, the failover demotes and stops serving.
    const back = await cli(['promote', '-c', p.primary, '--reason', 'failback'], { env });
    expect(back.code, back.stderr).toBe(0);
    await waitFor('production serving as primary', () => /serving as primary on /.test(production.output()));
    await untilReady('production', production, /recording and pushing/);
    await logsIn(PROD_IP, 'bob');
    await logsIn(PROD_IP, 'alice');
    const failDemoted = await cli(['demote', '-c', p.standby], { env });
    expect(failDemoted.code, failDemoted.stderr).toBe(0);
    await waitFor('the failover syncing again', () => /demoted .*syncing again/.test(failover.output()));
    await untilReady('the failover', failover, /could take over/);
    expect(readFileSync(stopLog, 'utf8').trim().split('\n')).toEqual(['acme']); // commands.stop, once
    expect(await login('sftp', FAIL_IP, 'bob', 'bob-pw')).toBe(7); // the failover serves nothing again
    expect(await login('ftps', FAIL_IP, 'bob', 'bob-pw')).toBe(7);
    await logsIn(PROD_IP, 'bob');
    stage('failback: production primary, failover stopped');

    // Nothing lost: every commit on main, the orphan edit on its pushed branch; both processes never restarted.
    const subjects = (await git(['--git-dir', p.remote, 'log', '--reverse', '--format=%s', 'main'])).trim().split('\n');
    expect(subjects).toEqual([
      expect.stringMatching(/initial configuration|acme/),
      expect.stringMatching(/^promote failover-1/),
      expect.stringMatching(/acme: add user bob/),
      expect.stringMatching(/^promote prod-1/),
    ]);
    const orphans = (
      await git(['--git-dir', p.remote, 'for-each-ref', '--format=%(refname)', 'refs/heads/gitfailover/orphaned/'])
    )
      .trim()
      .split('\n')
      .filter(Boolean);
    expect(orphans).toHaveLength(1);
    expect(await remoteHas('domains/acme/users/zed.yaml', orphans[0]!)).toBe(true);
    expect(failover.child.pid).toBe(failPid);
    expect(failover.child.exitCode).toBeNull();
    expect(production.child.exitCode).toBeNull();
    expect(failover.output() + production.output()).not.toMatch(/EADDRINUSE/);

    const total = stages.reduce((a, s) => a + s.ms, 0);
    console.log(`failback drill: total ${total}ms`);
    if (process.env.GF_FAILBACK_TIMES) writeFileSync(process.env.GF_FAILBACK_TIMES, JSON.stringify(stages));
  }, 300_000);
});

import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ProftpdLoader, type ProftpdSettings } from '../../src/loaders/proftpd/proftpd-loader.js';
import { cryptPassword, startProftpd, type ProftpdInstanceFiles } from '../../src/loaders/proftpd/instance.js';
import { cli, git, initRemote, makePair, removeDir, startCli, writeFile, type Pair } from '../helpers/fixture.js';
import {
  curl,
  FAIL_IP,
  filesOf,
  PROD_IP,
  skipProftpd,
  waitFor,
  writePrimaryNode,
  writeProftpdPair,
  writeStandbyNode,
} from '../helpers/proftpd-pair.js';

/**
 * The whole mission on a real MFT server: two ProFTPD daemons (production on 127.0.0.2, failover
 * on 127.0.0.3), a primary and a standby gitfailover as processes, and curl logging in over FTP,
 * FTPS and SFTP. ProFTPD must run as root (it switches to each session's user).
 */

const skip = skipProftpd('test/e2e/proftpd.test.ts', ['ftp', 'ftps', 'sftp']);

const SECRET = 'proftpd-e2e-notify-secret-0123';
// High ports, offset by pid so that two runs on one machine do not collide.
const BASE = 20_000 + (process.pid % 2000) * 10;
const PORT = { ftp: BASE, sftp: BASE + 1, ftps: BASE + 2, ftpMoved: BASE + 3, sftpBusy: BASE + 4 };

type Proto = 'ftp' | 'ftps' | 'sftp';

/** curl logs in and lists the home folder: exit 0 on success, 67 when the login is refused, 7 when nothing listens. */
function login(
  proto: Proto,
  ip: string,
  port: number,
  user: string,
  password: string,
): Promise<{ code: number; stderr: string }> {
  const args = ['-sS', '--max-time', '8', '-u', `${user}:${password}`];
  if (proto === 'ftps') args.push('--ssl-reqd', '--insecure'); // explicit FTPS (AUTH TLS), throwaway self-signed cert
  if (proto === 'sftp') args.push('--insecure'); // throwaway host key, no known_hosts
  return curl([...args, `${proto === 'sftp' ? 'sftp' : 'ftp'}://${ip}:${port}/`]);
}

interface Fixture {
  pair: Pair;
  prodFtpd: ProftpdInstanceFiles;
  failFtpd: ProftpdInstanceFiles;
  children: ChildProcess[];
  prodSettings: ProftpdSettings;
  hashes: Record<string, string>;
  standby?: Awaited<ReturnType<typeof startCli>>;
  primary?: Awaited<ReturnType<typeof startCli>>;
}

describe.skipIf(skip)('ProFTPD production/failover pair replicated by gitfailover', () => {
  let fx: Fixture;

  const services = (ftpPort: number, sftpPort: number, extra: object[] = []) => ({
    services: [
      { name: 'ftp-main', protocol: 'ftp', ip: PROD_IP, port: ftpPort },
      { name: 'sftp-main', protocol: 'sftp', ip: PROD_IP, port: sftpPort },
      { name: 'ftps-main', protocol: 'ftps', ip: PROD_IP, port: PORT.ftps },
      ...extra,
    ],
  });
  const domainDir = () => join(fx.pair.prodLive, 'domains', 'acme');
  const writeUser = (name: string) =>
    writeFile(
      join(domainDir(), 'users', `${name}.yaml`),
      stringify({
        name,
        passwordHash: fx.hashes[name],
        home: join(fx.pair.dir, 'homes', name),
        permissions: ['read', 'write', 'list'],
      }),
    );
  const lastSync = () => {
    const p = join(fx.pair.dir, 'fail-state', 'state.json');
    return existsSync(p)
      ? (JSON.parse(readFileSync(p, 'utf8')) as {
          appliedCommit?: string;
          lastSync?: { success: boolean; error?: string; errorCode?: string; time: string; toCommit?: string };
        })
      : {};
  };
  const hupCount = (f: ProftpdInstanceFiles) =>
    existsSync(f.logFile) ? (readFileSync(f.logFile, 'utf8').match(/received SIGHUP/g) ?? []).length : 0;
  const failPid = () => Number(readFileSync(fx.failFtpd.pidFile, 'utf8').trim());

  /** Production's own admin step: its ProFTPD serves what its live dir says (the same loader, no substitution). */
  async function applyProduction(): Promise<void> {
    const loader = new ProftpdLoader(join(fx.pair.dir, 'prod-rendered'), 'domains', fx.prodSettings);
    const files = filesOf(domainDir());
    const ctx = { node: 'prod-1', commit: 'production', start: true };
    await loader.validate({ load: new Map([['acme', files]]), delete: [] }, ctx);
    loader.prepare(ctx);
    loader.writeDomain('acme', files);
    await loader.activate(ctx);
    loader.finish();
  }

  beforeAll(async () => {
    const pair = makePair();
    chmodSync(pair.dir, 0o755); // the users' homes are inside: ProFTPD's sessions run as uid 65534
    await initRemote(pair);
    const { prodFtpd, failFtpd, settings } = await writeProftpdPair({
      keys: join(pair.dir, 'keys'),
      prod: join(pair.dir, 'prod-proftpd'),
      fail: join(pair.dir, 'fail-proftpd'),
    });
    fx = {
      pair,
      prodFtpd,
      failFtpd,
      children: [],
      prodSettings: settings(prodFtpd),
      hashes: { alice: await cryptPassword('alice-pw'), bob: await cryptPassword('bob-pw') },
    };
    fx.children.push(await startProftpd(prodFtpd), await startProftpd(failFtpd));

    writeFile(join(domainDir(), 'domain.yaml'), stringify({ name: 'acme', enabled: true }));
    writeFile(join(domainDir(), 'services.yaml'), stringify(services(PORT.ftp, PORT.sftp)));
    writeUser('alice');
    await applyProduction();

    writeStandbyNode(pair, {
      sync: { automatic: true, interval: '1h', startAfterSync: false, disableOnFailure: false },
      notify: { listen: '127.0.0.1:0', secret: 'env:GF_SECRET' },
      loader: 'proftpd',
      proftpd: settings(failFtpd),
    });
    const env = { GF_SECRET: SECRET };
    fx.standby = await startCli(['standby', '-c', pair.standby], /standby ready on (\S+):/, { env });
    fx.children.push(fx.standby.child);
    const address = /standby ready on (\S+):/.exec(fx.standby.output())![1]!;
    writePrimaryNode(pair, {
      record: { debounce: '100ms' },
      notify: { standbys: [`http://${address}/notify`], secret: 'env:GF_SECRET' },
    });
    fx.primary = await startCli(['primary', '-c', pair.primary], /ready: watching/, { env });
    fx.children.push(fx.primary.child);
  }, 120_000);

  afterAll(() => {
    if (!fx) return;
    for (const c of fx.children) c.kill('SIGKILL');
    removeDir(fx.pair.dir);
  });

  it('production serves alice on 127.0.0.2 (the starting point)', async () => {
    for (const [proto, port] of [
      ['ftp', PORT.ftp],
      ['sftp', PORT.sftp],
      ['ftps', PORT.ftps],
    ] as const) {
      expect((await login(proto, PROD_IP, port, 'alice', 'alice-pw')).code, proto).toBe(0);
    }
  });

  it('with startAfterSync false the failover listens nowhere until "gitfailover sync --start"; then alice logs in on 127.0.0.3 over ftp, sftp and ftps', async () => {
    await waitFor(
      'the first sync on the standby',
      () =>
        lastSync().lastSync?.success === true &&
        existsSync(join(fx.failFtpd.configDir, 'domains.d', 'acme.conf.stopped')),
    );
    const stopped = readFileSync(join(fx.failFtpd.configDir, 'domains.d', 'acme.conf.stopped'), 'utf8');
    expect(stopped).toContain(`<VirtualHost ${FAIL_IP}>`);
    expect(stopped).not.toContain(PROD_IP);
    expect((await login('ftp', FAIL_IP, PORT.ftp, 'alice', 'alice-pw')).code).toBe(7); // connection refused

    // promote (built separately) starts the domains the same way; sync --start is the on-demand form.
    const r = await cli(['sync', '--start', '-c', fx.pair.standby], { env: { GF_SECRET: SECRET } });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(fx.failFtpd.configDir, 'domains.d', 'acme.conf'))).toBe(true);
    for (const [proto, port] of [
      ['ftp', PORT.ftp],
      ['sftp', PORT.sftp],
      ['ftps', PORT.ftps],
    ] as const) {
      const res = await login(proto, FAIL_IP, port, 'alice', 'alice-pw');
      expect(res.code, `${proto}: ${res.stderr}`).toBe(0);
    }
  });

  it('a user added on production logs in on the failover after the sync, without a reload', async () => {
    const huPs = hupCount(fx.failFtpd);
    expect((await login('ftp', FAIL_IP, PORT.ftp, 'bob', 'bob-pw')).code).toBe(67);
    writeUser('bob');
    await applyProduction();
    expect((await login('ftp', PROD_IP, PORT.ftp, 'bob', 'bob-pw')).code).toBe(0);
    await waitFor(
      'bob logging in on the failover',
      async () => (await login('ftp', FAIL_IP, PORT.ftp, 'bob', 'bob-pw')).code === 0,
    );
    expect((await login('sftp', FAIL_IP, PORT.sftp, 'bob', 'bob-pw')).code).toBe(0);
    expect(hupCount(fx.failFtpd)).toBe(huPs); // users file re-read at login: no reload
  });

  it('a user removed on production can no longer log in on the failover', async () => {
    rmSync(join(domainDir(), 'users', 'alice.yaml'));
    await applyProduction();
    await waitFor(
      'alice refused on the failover',
      async () => (await login('ftp', FAIL_IP, PORT.ftp, 'alice', 'alice-pw')).code === 67,
    );
    expect((await login('sftp', FAIL_IP, PORT.sftp, 'alice', 'alice-pw')).code).not.toBe(0);
    expect((await login('ftp', FAIL_IP, PORT.ftp, 'bob', 'bob-pw')).code).toBe(0);
  });

  it('a service whose port changed on production listens on the new port on the failover', async () => {
    const pid = failPid();
    writeFile(join(domainDir(), 'services.yaml'), stringify(services(PORT.ftpMoved, PORT.sftp)));
    await applyProduction();
    await waitFor(
      'the moved ftp port answering on the failover',
      async () => (await login('ftp', FAIL_IP, PORT.ftpMoved, 'bob', 'bob-pw')).code === 0,
    );
    expect((await login('ftp', FAIL_IP, PORT.ftp, 'bob', 'bob-pw')).code).toBe(7);
    expect(failPid()).toBe(pid); // reloaded (SIGHUP), not restarted
  });

  it('a commit making two services bind one IP:port is refused before any reload; the failover keeps serving', async () => {
    const head = (await git(['--git-dir', fx.pair.remote, 'rev-parse', 'main'])).trim();
    await waitFor('the standby at the remote head', () => lastSync().appliedCommit === head);
    const before = head;
    const huPs = hupCount(fx.failFtpd);
    // Pushed past the primary from an admin's clone (the primary itself refuses to record a clash):
    // the standby refuses it on its own.
    const admin = join(fx.pair.dir, 'admin-clash');
    rmSync(admin, { recursive: true, force: true });
    await git(['clone', '--quiet', fx.pair.remote, admin]);
    const adminGit = (args: string[]) =>
      git(['-C', admin, '-c', 'user.name=Ada Admin', '-c', 'user.email=ada@example.com', ...args]);
    writeFileSync(
      join(admin, 'domains', 'acme', 'services.yaml'),
      stringify(
        services(PORT.ftpMoved, PORT.sftp, [{ name: 'ftp-clash', protocol: 'ftp', ip: PROD_IP, port: PORT.ftpMoved }]),
      ),
    );
    await adminGit(['commit', '--quiet', '-am', 'a clash']);
    await adminGit(['push', '--quiet', 'origin', 'HEAD:main']);
    // The forge's webhook would wake the standby; here an on-demand sync stands in for it.
    expect((await cli(['sync', '-c', fx.pair.standby], { env: { GF_SECRET: SECRET } })).code).toBe(1);
    await waitFor('the refused sync', () => lastSync().lastSync?.success === false);
    expect(lastSync().lastSync?.errorCode).toBe('E_DUPLICATE_BINDING');
    expect(lastSync().appliedCommit).toBe(before);
    expect(hupCount(fx.failFtpd)).toBe(huPs);
    expect((await login('ftp', FAIL_IP, PORT.ftpMoved, 'bob', 'bob-pw')).code).toBe(0);
    const st = JSON.parse(
      (await cli(['status', '--json', '--no-fetch', '-c', fx.pair.standby], { env: { GF_SECRET: SECRET } })).stdout,
    ) as { lastSync: { success: boolean; error: string } };
    expect(st.lastSync.success).toBe(false);
    expect(st.lastSync.error).toMatch(/binds 127\.0\.0\.3:\d+/);

    // Put it right in the repo (git revert); the next sync succeeds.
    await adminGit(['revert', '--no-edit', 'HEAD']);
    await adminGit(['push', '--quiet', 'origin', 'HEAD:main']);
    expect((await cli(['sync', '-c', fx.pair.standby], { env: { GF_SECRET: SECRET } })).code).toBe(0);
    await waitFor('the fixed commit applied', () => lastSync().lastSync?.success === true);
    const fixed = (await git(['--git-dir', fx.pair.remote, 'rev-parse', 'main'])).trim();
    await waitFor('the standby at the fixed commit', () => lastSync().appliedCommit === fixed);
  });

  it('a port another process holds on the failover is refused before the reload, so the daemon is not killed', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((r) => squatter.listen({ host: FAIL_IP, port: PORT.sftpBusy }, r));
    try {
      const pid = failPid();
      const huPs = hupCount(fx.failFtpd);
      writeFile(join(domainDir(), 'services.yaml'), stringify(services(PORT.ftpMoved, PORT.sftpBusy)));
      await applyProduction(); // production's 127.0.0.2 port is free
      await waitFor('the refused sync', () => lastSync().lastSync?.success === false);
      expect(lastSync().lastSync?.errorCode, lastSync().lastSync?.error).toBe('E_PROFTPD_BIND');
      expect(hupCount(fx.failFtpd)).toBe(huPs);
      expect(failPid()).toBe(pid);
      expect((await login('sftp', FAIL_IP, PORT.sftp, 'bob', 'bob-pw')).code).toBe(0);
      expect((await login('ftp', FAIL_IP, PORT.ftpMoved, 'bob', 'bob-pw')).code).toBe(0);
    } finally {
      squatter.close();
    }
  });

  // Not a timed test: `PROFTPD_BENCH_RUNS=20 npx vitest run test/e2e/proftpd.test.ts` prints the figure for BENCHMARKS.md.
  it.runIf(Number(process.env.PROFTPD_BENCH_RUNS ?? 0) > 0)(
    'benchmark: record on production -> first successful login on the failover (notify)',
    async () => {
      fx.primary!.child.kill('SIGKILL'); // record by hand, so that the clock starts at "gitfailover record"
      writeFile(join(domainDir(), 'services.yaml'), stringify(services(PORT.ftpMoved, PORT.sftp)));
      await cli(['record', '-m', 'bench: back to a free port', '-c', fx.pair.primary], { env: { GF_SECRET: SECRET } });
      await waitFor('the standby in sync', () => lastSync().lastSync?.success === true, 30_000);
      const fromStart: number[] = [];
      const fromExit: number[] = [];
      for (let i = 0; i < Number(process.env.PROFTPD_BENCH_RUNS); i++) {
        const name = `bench${i}`;
        fx.hashes[name] = fx.hashes.bob!; // same password, new user
        writeUser(name);
        const t0 = performance.now();
        const r = await cli(['record', '-m', `add ${name}`, '-c', fx.pair.primary], { env: { GF_SECRET: SECRET } });
        const t1 = performance.now();
        expect(r.code, r.stderr).toBe(0);
        await waitFor(
          `${name} on the failover`,
          async () => (await login('ftp', FAIL_IP, PORT.ftpMoved, name, 'bob-pw')).code === 0,
        );
        const t2 = performance.now();
        fromStart.push(t2 - t0);
        fromExit.push(t2 - t1);
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      console.log(
        `PROFTPD BENCH runs=${fromStart.length} median record-start->login ${median(fromStart).toFixed(0)} ms (min ${Math.min(...fromStart).toFixed(0)}, max ${Math.max(...fromStart).toFixed(0)}); median record-exit->login ${median(fromExit).toFixed(0)} ms`,
      );
      expect(statSync(fx.failFtpd.pidFile).isFile()).toBe(true);
    },
    600_000,
  );
});

import { execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { ProftpdLoader } from '../loaders/proftpd/proftpd-loader.js';
import { cryptPassword, startProftpd } from '../loaders/proftpd/instance.js';
import { initBareRepo } from '../repo/bare-repo.js';
import { loadState } from '../sync/state.js';
import { syncOnce } from '../sync/sync.js';
import { freePort } from './free-port.js';
import { startDomains } from '../role/domains.js';
import { curl, filesOf, startDemoNodes, waitFor, writeProftpdPair } from './kit.js';

/**
 * `npm run demo -- --proftpd`: two real ProFTPD daemons (production 127.0.0.2, failover
 * 127.0.0.3), a primary and a standby gitfailover; a user added on production logs in on the
 * failover, and the demo prints the curl command that proves it. Needs root and proftpd.
 */
const PROD_IP = '127.0.0.2';
const FAIL_IP = '127.0.0.3';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => process.stdout.write(`\n${bold(`== ${s}`)}\n`);

/** curl's exit code alone: what the demo prints. */
const curlCode = async (args: string[]) => (await curl(args)).code;

// biome-ignore lint/complexity/noExcessiveLinesPerFunction: a demo script read top to bottom, step by step
export async function runProftpdDemo(opts: { keep: boolean }): Promise<void> {
  if (process.getuid?.() !== 0)
    throw new Error(
      '--proftpd needs root (ProFTPD switches to each session user): run it as root, e.g. in the CI container',
    );
  try {
    execFileSync('proftpd', ['-v'], { stdio: 'ignore' });
  } catch {
    throw new Error('--proftpd needs proftpd: apt-get install proftpd-core proftpd-mod-crypto curl openssl');
  }
  // ephemeral ports, the same on both addresses, so that a port in use elsewhere never stops the demo
  const FTP_PORT = await freePort([PROD_IP, FAIL_IP]);
  let SFTP_PORT = await freePort([PROD_IP, FAIL_IP]);
  while (SFTP_PORT === FTP_PORT) SFTP_PORT = await freePort([PROD_IP, FAIL_IP]);
  const dir = mkdtempSync(join(tmpdir(), 'gitfailover-proftpd-demo-'));
  chmodSync(dir, 0o755); // the demo users' homes are inside; sessions run as uid 65534
  const secret = randomBytes(16).toString('hex');
  const env = { ...process.env, DEMO_NOTIFY_SECRET: secret };
  const children: ChildProcess[] = [];
  let stop = async () => {};
  try {
    step(`set-up in ${dir}`);
    const remote = join(dir, 'mft-config.git');
    await initBareRepo(remote);
    const {
      prodFtpd,
      failFtpd,
      common: proftpd,
    } = await writeProftpdPair({
      keys: join(dir, 'keys'),
      prod: join(dir, 'production', 'proftpd'),
      fail: join(dir, 'failover', 'proftpd'),
    });
    children.push(await startProftpd(prodFtpd), await startProftpd(failFtpd));
    process.stdout.write(
      `ProFTPD production: ${prodFtpd.mainConfig} (pid ${readFileSync(prodFtpd.pidFile, 'utf8').trim()})\nProFTPD failover:   ${failFtpd.mainConfig} (pid ${readFileSync(failFtpd.pidFile, 'utf8').trim()})\n`,
    );

    // Production's live dir in the default layout; its own ProFTPD is configured from it by the same loader.
    const prodLive = join(dir, 'production', 'etc');
    const domain = join(prodLive, 'domains', 'acme');
    const user = async (name: string, password: string) =>
      writeFileSync(
        join(domain, 'users', `${name}.yaml`),
        stringify({
          name,
          passwordHash: await cryptPassword(password),
          home: join(dir, 'homes', name),
          permissions: ['read', 'write', 'list'],
        }),
      );
    mkdirSync(join(domain, 'users'), { recursive: true });
    writeFileSync(join(domain, 'domain.yaml'), stringify({ name: 'acme', enabled: true }));
    writeFileSync(
      join(domain, 'services.yaml'),
      stringify({
        services: [
          { name: 'ftp-main', protocol: 'ftp', ip: PROD_IP, port: FTP_PORT },
          { name: 'sftp-main', protocol: 'sftp', ip: PROD_IP, port: SFTP_PORT },
        ],
      }),
    );
    await user('alice', 'alice-pw');
    const applyProduction = async () => {
      const loader = new ProftpdLoader(join(dir, 'production', 'rendered'), 'domains', {
        ...proftpd,
        configDir: prodFtpd.configDir,
        pidFile: prodFtpd.pidFile,
      });
      const ctx = { node: 'prod-1', commit: 'production', start: true };
      const files = filesOf(domain);
      await loader.validate({ load: new Map([['acme', files]]), delete: [] }, ctx);
      loader.prepare(ctx);
      loader.writeDomain('acme', files);
      await loader.activate(ctx);
      loader.finish();
    };
    await applyProduction();

    const nodes = await startDemoNodes(
      { dir, remote, prodLive, env },
      {
        live: { dir: join(dir, 'failover', 'etc') },
        sync: { automatic: true, interval: '1h', startAfterSync: false },
        substitution: { ips: { [PROD_IP]: FAIL_IP } },
        loader: 'proftpd',
        proftpd: { ...proftpd, configDir: failFtpd.configDir, pidFile: failFtpd.pidFile },
      },
      { record: { debounce: '100ms' } },
    );
    const { standbyCfg, primary } = nodes;
    stop = nodes.stop;

    step('the primary records production; the failover loads the domain stopped (startAfterSync: false)');
    await primary.start();
    await waitFor('the first sync', () => loadState(standbyCfg.repo.stateDir).appliedCommit !== undefined);
    process.stdout.write(`failover domains.d: ${readdirSync(join(failFtpd.configDir, 'domains.d')).join(', ')}\n`);
    process.stdout.write(
      `login on ${FAIL_IP}:${FTP_PORT} now: curl exit ${await curlCode(['-sS', '--max-time', '5', '-u', 'alice:alice-pw', `ftp://${FAIL_IP}:${FTP_PORT}/`])} (7 = nothing listens)\n`,
    );

    step('gitfailover sync --start on the failover (what promote does at failover time)');
    // What the command does: a sync (here up to date), then every domain of the live dir started.
    const started = await syncOnce(standbyCfg, { start: true, onDemand: true });
    if (!started.result.success) throw new Error(`sync --start failed: ${started.result.error}`);
    const failedStarts = (
      await startDomains(
        standbyCfg,
        started.result.toCommit!,
        (l) => process.stdout.write(`${l}\n`),
        started.result.domains,
      )
    ).filter((s) => !s.ok);
    if (failedStarts.length > 0)
      throw new Error(`sync --start: ${failedStarts.map((s) => `${s.domain}: ${s.error}`).join('; ')}`);
    process.stdout.write(`failover domains.d: ${readdirSync(join(failFtpd.configDir, 'domains.d')).join(', ')}\n`);
    process.stdout.write(`${readFileSync(join(failFtpd.configDir, 'domains.d', 'acme.conf'), 'utf8')}`);

    step('an admin adds user carol on production');
    const t0 = Date.now();
    await user('carol', 'carol-pw');
    await applyProduction();
    const proof = ['-sS', '--max-time', '5', '-u', 'carol:carol-pw', `ftp://${FAIL_IP}:${FTP_PORT}/`];
    await waitFor('carol logging in on the failover', async () => (await curlCode(proof)) === 0);
    process.stdout.write(
      `carol logs in on the failover ${Date.now() - t0}ms after the file was written on production (100ms debounce included)\n`,
    );
    process.stdout.write(
      `\nProve it yourself${opts.keep ? '' : ' (run with --keep to leave the daemons running)'}:\n  curl -u carol:carol-pw ftp://${FAIL_IP}:${FTP_PORT}/\n  curl -k -u carol:carol-pw sftp://${FAIL_IP}:${SFTP_PORT}/\n`,
    );

    if (opts.keep) {
      process.stdout.write(`\nkept ${dir}; the daemons keep running: press Ctrl-C to stop them\n`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
    step('done');
  } finally {
    await stop().catch(() => {});
    for (const c of children) c.kill('SIGTERM');
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
}

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { notifyStandbys } from '../daemon/primary-notify.js';
import { scaffoldConfigRepo } from '../init/scaffold.js';
import { initBareRepo, logText, revParse } from '../repo/bare-repo.js';
import { revert } from '../record/revert.js';
import { loadState } from '../sync/state.js';
import { runProftpdDemo } from './demo-proftpd.js';
import { startDemoNodes, waitFor } from './kit.js';

/**
 * `npm run demo`: a bare remote, a primary and a standby in a temp folder, both daemons running;
 * a user added on the primary arrives on the standby with the IP substituted, then a revert
 * round trip. Everything is removed at the end.
 */
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (s: string) => process.stdout.write(`\n${bold(`== ${s}`)}\n`);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'gitfailover-demo-'));
  const keep = process.argv.includes('--keep');
  // The same mission on two real ProFTPD daemons, with a login that proves it.
  if (process.argv.includes('--proftpd')) {
    rmSync(dir, { recursive: true, force: true });
    return runProftpdDemo({ keep });
  }
  const secret = randomBytes(16).toString('hex');
  const env = { ...process.env, DEMO_NOTIFY_SECRET: secret };
  let stopAll = async () => {};
  try {
    step(`set-up in ${dir}`);
    const remote = join(dir, 'mft-config.git');
    await initBareRepo(remote);
    const prodLive = join(dir, 'production', 'etc');
    const failLive = join(dir, 'failover', 'etc');
    mkdirSync(failLive, { recursive: true });
    scaffoldConfigRepo(prodLive);
    process.stdout.write(
      `remote:     ${remote} (a bare git repo)\nproduction: ${prodLive} (live dir, domain acme on 10.0.0.5)\nfailover:   ${failLive} (empty; substitutes 10.0.0.5 -> 10.1.0.5)\n`,
    );

    const nodes = await startDemoNodes(
      { dir, remote, prodLive, env },
      {
        live: { dir: failLive },
        sync: { automatic: true, interval: '1h' },
        substitution: { ips: { '10.0.0.5': '10.1.0.5' } },
      },
      { record: { debounce: '300ms' } },
    );
    const { standbyCfg, primaryCfg, primary } = nodes;
    stopAll = nodes.stop;

    step('the primary records its configuration; the standby is notified and applies it');
    await primary.start();
    const applied = () => loadState(standbyCfg.repo.stateDir).appliedCommit;
    const head = () => revParse(remote, 'main');
    await waitFor('the first sync', () => applied() !== undefined);
    show('production services.yaml', join(prodLive, 'domains/acme/services.yaml'));
    show('failover services.yaml (after IP substitution)', join(failLive, 'domains/acme/services.yaml'));

    step('an admin adds user carol on production');
    const t0 = Date.now();
    writeFileSync(
      join(prodLive, 'domains/acme/users/carol.yaml'),
      stringify({
        name: 'carol',
        passwordHash: '$2b$12$KIXQJv9VnHjZ1oQx0oQ5BeZrSg8bD3T8c1kq3fW1hYp0e9aQ2mWcW',
        home: '/data/acme/carol',
        permissions: ['read', 'write'],
      }),
    );
    await waitFor('carol on the failover', () => {
      try {
        return readFileSync(join(failLive, 'domains/acme/users/carol.yaml'), 'utf8').includes('carol');
      } catch {
        return false;
      }
    });
    process.stdout.write(
      `carol arrived on the failover ${Date.now() - t0}ms after the file was written (including the 300ms debounce)\n`,
    );
    const addCommit = await head();

    step('the audit trail: git log of the config repo');
    process.stdout.write(await logText(remote, 'main', '%h %an: %s'));
    process.stdout.write(await logText(remote, 'main', '%B', 1));

    step(`recovery: gitfailover revert ${addCommit.slice(0, 12)} on the primary`);
    const r = await revert(primaryCfg, addCommit, { actor: 'demo' });
    process.stdout.write(`reverted as ${r.commit?.slice(0, 12)}: ${r.subject}\n`);
    await notifyStandbys(primaryCfg, { node: primaryCfg.node, commit: r.commit! });
    await waitFor('carol gone from the failover', () => {
      try {
        readFileSync(join(failLive, 'domains/acme/users/carol.yaml'));
        return false;
      } catch {
        return true;
      }
    });
    process.stdout.write(
      `carol is gone from production and from the failover; the failover is at ${applied()?.slice(0, 12)} = remote head ${(await head()).slice(0, 12)}\n`,
    );

    step('done');
    await stopAll();
    stopAll = async () => {};
  } finally {
    await stopAll().catch(() => {});
    if (keep) process.stdout.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

function show(title: string, file: string): void {
  process.stdout.write(`--- ${title}\n`);
  const text = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => !l.trim().startsWith('#') && l.trim() !== '');
  process.stdout.write(`${text.map((l) => `    ${l}`).join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});

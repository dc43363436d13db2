import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cli, git, removeDir, startCli, tempDir, writeDomain, writeFile, writeUser } from '../helpers/fixture.js';
import { startSmartHttp, type SmartHttpServer } from '../helpers/git-servers.js';

/**
 * One primary, three standbys (a local failover and two disaster-recovery sites), each with its
 * own addresses, all on one HTTPS remote with credentials. One standby is stopped and a fourth
 * URL never answers: the others still get every change at once.
 */
const PASSWORD = 'fanout-pw-4b7c1d-never-logged';
const TOKEN = 'fanout-token-e2a9f0-never-logged';
const SECRET = 'fanout-notify-secret-0123456789';
const SITES = { 'failover-1': '10.1.0.5', 'dr-east': '10.2.0.5', 'dr-west': '10.3.0.5' } as const;
type Site = keyof typeof SITES;

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const f of cleanups.reverse()) await f();
});

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A listener that accepts connections and never answers: a standby hung rather than down. */
async function blackHole(): Promise<string> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify`;
}

describe('several standbys on one repo', () => {
  it('three standbys with their own substitution maps apply the same commits; one down delays nobody', async () => {
    const dir = tempDir('gf-fanout-');
    cleanups.push(() => removeDir(dir));
    const root = join(dir, 'srv');
    mkdirSync(root, { recursive: true });
    await git(['init', '-q', '--bare', '--initial-branch=main', join(root, 'config.git')]);
    const http: SmartHttpServer = await startSmartHttp(root, {
      prod: { password: PASSWORD, write: true },
      standby: { password: TOKEN, write: false },
    });
    cleanups.push(() => http.close());
    const remote = http.url('config.git');
    writeFile(join(dir, 'token'), TOKEN);
    const env = { GF_SECRET: SECRET, GF_GIT_PASSWORD: PASSWORD };
    const outputs: (() => string)[] = [];

    const standbyFile = (site: Site) => {
      const file = join(dir, `${site}.yaml`);
      writeFile(
        file,
        stringify({
          node: site,
          role: 'standby',
          repo: { remote, stateDir: join(dir, `${site}-state`), auth: { username: 'standby', tokenFile: 'token' } },
          live: { dir: join(dir, `${site}-live`) },
          sync: { automatic: true, interval: '1h' }, // only a notify (or the start) makes them sync
          substitution: { ips: { '10.0.0.5': SITES[site] }, files: ['native/**'] },
          notify: { listen: '127.0.0.1:0', secret: 'env:GF_SECRET' },
        }),
      );
      return file;
    };
    const startStandby = async (site: Site) => {
      const s = await startCli(['standby', '-c', standbyFile(site)], /standby ready on (\S+):/, { env });
      children.push(s.child);
      outputs.push(s.output);
      return { ...s, url: `http://${/standby ready on (\S+):/.exec(s.output())![1]!}/notify` };
    };
    const standbys = {
      'failover-1': await startStandby('failover-1'),
      'dr-east': await startStandby('dr-east'),
      'dr-west': await startStandby('dr-west'),
    };
    const hung = await blackHole();

    const prodLive = join(dir, 'prod');
    writeDomain(prodLive, 'acme', {
      services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    writeFile(join(prodLive, 'native', 'listen.conf'), 'Listen 10.0.0.5:2121\n');
    const primaryFile = join(dir, 'primary.yaml');
    writeFile(
      primaryFile,
      stringify({
        node: 'prod-1',
        role: 'primary',
        repo: {
          remote,
          stateDir: join(dir, 'prod-state'),
          auth: { username: 'prod', password: 'env:GF_GIT_PASSWORD' },
        },
        live: { dir: prodLive },
        record: { debounce: '100ms' },
        notify: {
          standbys: [standbys['failover-1'].url, hung, standbys['dr-east'].url, standbys['dr-west'].url],
          secret: 'env:GF_SECRET',
          heartbeat: '1h',
        },
      }),
    );
    const primary = await startCli(['primary', '-c', primaryFile], /ready: watching/, { env });
    children.push(primary.child);
    outputs.push(primary.output);

    const live = (site: Site, rel: string) => join(dir, `${site}-live`, rel);
    const sites = Object.keys(SITES) as Site[];
    await waitFor('the first commit on every standby', () =>
      sites.every((s) => existsSync(live(s, 'domains/acme/users/alice.yaml'))),
    );

    const hungFailures = () => primary.output().split(`notify ${hung} failed: no answer within`).length - 1;
    await waitFor('the first notify of the hung URL to time out', () => hungFailures() === 1, 10_000);

    // dr-west goes down; the next change still reaches the other two at once.
    standbys['dr-west'].child.kill('SIGTERM');
    await new Promise<void>((resolve) => standbys['dr-west'].child.once('exit', () => resolve()));
    writeUser(prodLive, 'acme', 'bob');
    await waitFor(
      'bob on failover-1 and dr-east',
      () =>
        existsSync(live('failover-1', 'domains/acme/users/bob.yaml')) &&
        existsSync(live('dr-east', 'domains/acme/users/bob.yaml')),
    );
    // The hung URL has not even timed out yet when the others have applied the change: its
    // notify runs beside theirs, not before them.
    expect(hungFailures()).toBe(1);
    expect(existsSync(live('dr-west', 'domains/acme/users/bob.yaml'))).toBe(false);
    await waitFor('the second notify of the hung URL to time out', () => hungFailures() === 2, 10_000);
    expect(primary.output()).toContain(`notify ${standbys['dr-west'].url} failed: connect ECONNREFUSED`);

    // dr-west comes back and catches up on its own (the start syncs), with its own addresses.
    await startStandby('dr-west');
    await waitFor('bob on dr-west after its restart', () => existsSync(live('dr-west', 'domains/acme/users/bob.yaml')));

    const head = (await git(['--git-dir', join(root, 'config.git'), 'rev-parse', 'refs/heads/main'])).trim();
    for (const site of sites) {
      const services = readFileSync(live(site, 'domains/acme/services.yaml'), 'utf8');
      const conf = readFileSync(live(site, 'native/listen.conf'), 'utf8');
      expect(services).toContain(`ip: ${SITES[site]}`);
      expect(conf).toBe(`Listen ${SITES[site]}:2121\n`);
      for (const other of sites.filter((o) => o !== site)) expect(services + conf).not.toContain(SITES[other]);
      expect(services + conf).not.toContain('10.0.0.5');
      const status = await cli(['status', '-c', join(dir, `${site}.yaml`), '--json'], { env });
      outputs.push(() => status.stdout + status.stderr);
      expect(JSON.parse(status.stdout)).toMatchObject({ node: site, appliedCommit: head, behind: 0 });
    }

    const everything = outputs.map((o) => o()).join('\n');
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(TOKEN);
  });
});

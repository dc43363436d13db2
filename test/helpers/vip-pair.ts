import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import type { ProftpdInstanceFiles } from '../../src/loaders/proftpd/instance.js';
import { execIn, holdsVip, killAll, LAN, makeNet, removeNet, setLink, spawnIn, type Net } from './netns.js';

// No vitest here (test/helpers/fixture.ts imports it): `npm run bench` runs this file compiled
// into dist-bench/, so the checkout is found by walking up, and the tool is the built dist/.
const ROOT = (() => {
  let d = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(d, 'templates', 'keepalived')) && dirname(d) !== d) d = dirname(d);
  return d;
})();
const BIN = join(ROOT, 'bin', 'gitfailover.js');
const proftpd = async () =>
  (await import(
    pathToFileURL(join(ROOT, 'dist', 'loaders', 'proftpd', 'instance.js')).href
  )) as typeof import('../../src/loaders/proftpd/instance.js');
const age = async () =>
  (await import(
    pathToFileURL(join(ROOT, 'dist', 'secrets', 'age.js')).href
  )) as typeof import('../../src/secrets/age.js');

function git(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('git', args, (err, stdout, stderr) =>
      err ? reject(new Error(`git ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    ),
  );
}

function writeFile(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

/**
 * A production/failover pair behind one virtual address, each node in its own network namespace
 * with a ProFTPD, a gitfailover daemon and a keepalived rendered from templates/keepalived/, and a
 * client namespace that logs in on the virtual address with curl (FTP, and SFTP pinned to production's
 * host key, which both nodes serve from the repo as a declared secret). The remote is a bare repo on the
 * shared filesystem (file:// path: both namespaces see the filesystem). Used by
 * test/e2e/keepalived.test.ts and the takeover bench.
 */

export type Node = 'prod' | 'fail';
export const NODE_NAME: Record<Node, string> = { prod: 'prod-1', fail: 'failover-1' };
const PRIORITY: Record<Node, number> = { prod: 150, fail: 100 };
export const FTP_PORT = 21;
export const SFTP_PORT = 22;
/** Where production's SFTP host key lives in each live dir (a declared secret: `keys/**`). */
const HOST_KEY = 'keys/sftp_host_rsa.pem';
/** Each node's own service: its address differs per node, so records show production's terms. */
export const NODE_PORT = 2121;

export interface VipPair {
  net: Net;
  dir: string;
  remote: string;
  live: Record<Node, string>;
  state: Record<Node, string>;
  nodeFile: Record<Node, string>;
  ftpd: Record<Node, ProftpdInstanceFiles>;
  keepalivedConf: Record<Node, string>;
  advertInt: number;
  /** The client's HOME: .ssh/known_hosts holds production's host key only, under the virtual address. */
  clientHome: string;
  /** The same with another key: the control that the client checks the key at all. */
  wrongClientHome: string;
  hashes: Record<string, string>;
  children: ChildProcess[];
  logDir: string;
}

export const gitfailoverCommand = () => `${process.execPath} ${BIN}`;

/** templates/keepalived/keepalived.conf with one node's values. */
export function renderKeepalived(vars: Record<string, string | number>): string {
  const text = readFileSync(join(ROOT, 'templates', 'keepalived', 'keepalived.conf'), 'utf8');
  const out = text.replace(/\{\{([A-Z_]+)\}\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
  const left = /^[^#]*\{\{([A-Z_]+)\}\}/m.exec(out);
  if (left) throw new Error(`templates/keepalived/keepalived.conf: no value for {{${left[1]}}}`);
  return out;
}

export function keepalivedVars(
  node: Node,
  p: { nodeFile: string; stateDir: string; advertInt: number; vrid?: number },
) {
  return {
    NODE: NODE_NAME[node],
    PRIORITY: PRIORITY[node],
    INTERFACE: 'veth0',
    SELF_IP: LAN[node],
    PEER_IP: LAN[node === 'prod' ? 'fail' : 'prod'],
    VIP: `${LAN.vip}/${LAN.prefix}`,
    VRID: p.vrid ?? 51,
    GITFAILOVER: gitfailoverCommand(),
    NODE_FILE: p.nodeFile,
    STATE_DIR: p.stateDir,
    SCRIPT_USER: 'root',
    ADVERT_INT: p.advertInt,
  };
}

/** The network, the config repo (domain acme, user alice), ProFTPD and gitfailover on both nodes; keepalived not yet. */
export async function makeVipPair(opts: { advertInt?: number } = {}): Promise<VipPair> {
  const { cryptPassword, writeMainConfig } = await proftpd();
  const net = makeNet();
  const dir = mkdtempSync(join(tmpdir(), 'gf-vip-'));
  chmodSync(dir, 0o755); // users' homes are inside: ProFTPD's sessions run as uid 65534
  const p: VipPair = {
    net,
    dir,
    remote: join(dir, 'remote.git'),
    live: { prod: join(dir, 'prod-live'), fail: join(dir, 'fail-live') },
    state: { prod: join(dir, 'prod-state'), fail: join(dir, 'fail-state') },
    nodeFile: { prod: join(dir, 'prod.yaml'), fail: join(dir, 'fail.yaml') },
    ftpd: {
      prod: writeMainConfig(join(dir, 'prod-proftpd'), { serverName: 'production' }),
      fail: writeMainConfig(join(dir, 'fail-proftpd'), { serverName: 'failover' }),
    },
    keepalivedConf: { prod: join(dir, 'prod-keepalived.conf'), fail: join(dir, 'fail-keepalived.conf') },
    advertInt: opts.advertInt ?? 0.1,
    clientHome: join(dir, 'client-home'),
    wrongClientHome: join(dir, 'client-home-wrong'),
    hashes: {},
    children: [],
    logDir: join(dir, 'logs'),
  };
  try {
    mkdirSync(p.logDir);
    for (const u of ['alice', 'carol', 'dave']) p.hashes[u] = await cryptPassword(`${u}-pw`);
    const secret = join(dir, 'notify.secret');
    writeFileSync(secret, 'vip-e2e-notify-secret-0123456789', { mode: 0o600 });

    writeNodeFiles(p, secret);
    const seed = join(dir, 'seed');
    const commit = async (message: string) => {
      await git(['-C', seed, 'add', '-A']);
      await git([
        '-C',
        seed,
        '-c',
        'user.name=Ada Admin',
        '-c',
        'user.email=ada@example.com',
        'commit',
        '-qm',
        message,
      ]);
      await git(['-C', seed, 'push', '-q', p.remote, 'HEAD:main']);
    };
    await git(['init', '-q', '--bare', '--initial-branch=main', p.remote]);
    await git(['init', '-q', '--initial-branch=main', seed]);
    // The key store first, on its own: the loader checks a domain's configuration ("proftpd -t")
    // before the sync writes the live dir, so the key must already be there when the sftp service comes.
    await seedHostKey(p, seed);
    await commit('key store');
    await startProftpd(p, 'prod');
    await startProftpd(p, 'fail');
    await startDaemon(p, 'prod');
    await startDaemon(p, 'fail');
    await waitFor(
      'the host key decrypted into both live dirs',
      () => existsSync(join(p.live.prod, HOST_KEY)) && existsSync(join(p.live.fail, HOST_KEY)),
      120_000,
    );

    // The config repo as production serves it: one domain on the virtual address and on production's own.
    const acme = join(seed, 'domains', 'acme');
    writeFile(join(acme, 'domain.yaml'), stringify({ name: 'acme', enabled: true }));
    writeFile(
      join(acme, 'services.yaml'),
      stringify({
        services: [
          { name: 'ftp-vip', protocol: 'ftp', ip: LAN.vip, port: FTP_PORT },
          { name: 'ftp-node', protocol: 'ftp', ip: LAN.prod, port: NODE_PORT },
          { name: 'sftp-vip', protocol: 'sftp', ip: LAN.vip, port: SFTP_PORT },
        ],
      }),
    );
    writeUserFile(p, seed, 'alice');
    await commit('acme');
  } catch (err) {
    removeVipPair(p);
    throw err;
  }
  return p;
}

/** Both node files (standbys with production's keys as declared secrets) and their keepalived.conf. */
function writeNodeFiles(p: VipPair, secretFile: string): void {
  for (const n of ['prod', 'fail'] as const) {
    const other = n === 'prod' ? 'fail' : 'prod';
    writeFile(
      p.nodeFile[n],
      stringify({
        node: NODE_NAME[n],
        // Both start as standbys: keepalived elects the first primary (its notify_master promotes).
        role: 'standby',
        repo: { remote: p.remote, stateDir: p.state[n] },
        live: { dir: p.live[n] },
        record: { debounce: '100ms' },
        sync: { automatic: true, interval: '2s', startAfterSync: false, disableOnFailure: false },
        substitution:
          n === 'prod' ? { ips: {}, keep: [LAN.vip, LAN.prod] } : { ips: { [LAN.prod]: LAN.fail }, keep: [LAN.vip] },
        notify: {
          listen: `${LAN[n]}:7420`,
          standbys: [`http://${LAN[other]}:7420/notify`],
          secret: `file:${secretFile}`,
          heartbeat: '2s',
        },
        loader: 'proftpd',
        secrets: { files: ['keys/**'], identity: `file:${join(p.dir, `${n}.agekey`)}` },
        proftpd: {
          binary: 'proftpd',
          // Decrypted from the repo into the live dir by every sync: both nodes answer as production.
          sftpHostKeys: [join(p.live[n], HOST_KEY)],
          configDir: p.ftpd[n].configDir,
          pidFile: p.ftpd[n].pidFile,
          uid: 65534,
          gid: 65534,
          createHomes: true,
          readyTimeout: 10_000,
        },
      }),
    );
    // A loaded CI machine can take seconds to start node: a track_script killed at its timeout
    // counts as a failure, which would take the address from a healthy primary here.
    writeFileSync(
      p.keepalivedConf[n],
      renderKeepalived(
        keepalivedVars(n, { nodeFile: p.nodeFile[n], stateDir: p.state[n], advertInt: p.advertInt }),
      ).replace(/^(\s*timeout) \d+$/m, '$1 60'),
    );
  }
}

/**
 * Production's SFTP host key in the seed as the repo holds a declared secret: `<path>.age`, encrypted
 * (the record's own encryptTo) to both nodes' recipients, each from `gitfailover keygen` on its node
 * file, listed in .gitfailover/recipients/. The client's known_hosts gets its public half only.
 */
async function seedHostKey(p: VipPair, seed: string): Promise<void> {
  const { throwawayKeys } = await proftpd();
  const { encryptTo } = await age();
  const keys = await throwawayKeys(join(p.dir, 'prod-keys'));
  const other = join(p.dir, 'other-key');
  execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', other]);
  const recipients: string[] = [];
  for (const n of ['prod', 'fail'] as const) {
    const recipient = execFileSync(process.execPath, [BIN, 'keygen', '-c', p.nodeFile[n]], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    writeFile(join(seed, '.gitfailover', 'recipients', NODE_NAME[n]), `${recipient}\n`);
    recipients.push(recipient);
  }
  writeFile(join(seed, `${HOST_KEY}.age`), await encryptTo(readFileSync(keys.sftpHostKey), recipients));
  const publicLine = (key: string) =>
    execFileSync('ssh-keygen', ['-y', '-f', key], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
  writeFile(join(p.clientHome, '.ssh', 'known_hosts'), `${LAN.vip} ${publicLine(keys.sftpHostKey)}\n`);
  writeFile(join(p.wrongClientHome, '.ssh', 'known_hosts'), `${LAN.vip} ${publicLine(other)}\n`);
}

export function writeUserFile(p: VipPair, liveOrSeed: string, user: string): void {
  writeFile(
    join(liveOrSeed, 'domains', 'acme', 'users', `${user}.yaml`),
    stringify({
      name: user,
      passwordHash: p.hashes[user],
      home: join(p.dir, 'homes', user),
      permissions: ['read', 'write', 'list'],
    }),
  );
}

export function removeVipPair(p: VipPair): void {
  removeNet(p.net); // kills every process in the namespaces first
  for (const c of p.children) c.kill('SIGKILL');
  if (!process.env.GF_KEEP_VIP_DIR) execFileSync('rm', ['-rf', p.dir]);
}

function logFd(p: VipPair, name: string): number {
  return openSync(join(p.logDir, name), 'a');
}

export async function startProftpd(p: VipPair, n: Node): Promise<void> {
  const f = p.ftpd[n];
  const child = spawnIn(p.net, n, 'proftpd', ['-n', '-c', f.mainConfig], {
    stdio: ['ignore', 'ignore', logFd(p, `${n}-proftpd.err`)],
  });
  p.children.push(child);
  await waitFor(
    `proftpd in ${n}`,
    () => existsSync(f.pidFile) && readFileSync(f.pidFile, 'utf8').trim() === String(child.pid),
    10_000,
    () => child.exitCode !== null,
  );
}

/** `gitfailover standby`: it follows the node's role (promoted, it records; demoted, it syncs). */
export async function startDaemon(p: VipPair, n: Node): Promise<void> {
  const out = join(p.logDir, `${n}-gitfailover.log`);
  const before = existsSync(out) ? readFileSync(out, 'utf8').length : 0;
  const fd = logFd(p, `${n}-gitfailover.log`);
  const child = spawnIn(p.net, n, process.execPath, [BIN, 'standby', '-c', p.nodeFile[n]], {
    stdio: ['ignore', fd, fd],
  });
  p.children.push(child);
  await waitFor(
    `the gitfailover daemon in ${n}`,
    () => /standby ready on |ready: watching/.test(readFileSync(out, 'utf8').slice(before)),
    120_000,
    () => child.exitCode !== null,
  );
}

export async function startKeepalived(p: VipPair, n: Node): Promise<void> {
  const fd = logFd(p, `${n}-keepalived.log`);
  const child = spawnIn(
    p.net,
    n,
    'keepalived',
    [
      '--dont-fork',
      '--log-console',
      '--vrrp',
      '-f',
      p.keepalivedConf[n],
      '-p',
      join(p.dir, `${n}-keepalived.pid`),
      '-r',
      join(p.dir, `${n}-vrrp.pid`),
    ],
    { stdio: ['ignore', fd, fd] },
  );
  p.children.push(child);
  await new Promise((r) => setTimeout(r, 50));
  if (child.exitCode !== null)
    throw new Error(
      `keepalived in ${n} exited with ${child.exitCode}: ${readFileSync(join(p.logDir, `${n}-keepalived.log`), 'utf8')}`,
    );
}

/** Production dies: every process of its namespace SIGKILLed, its link down, the address it held gone (a reboot loses it). */
export function killNode(p: VipPair, n: Node): void {
  killAll(p.net, n);
  setLink(p.net, n, false);
  try {
    execFileSync('ip', ['-n', p.net.ns[n], 'addr', 'del', `${LAN.vip}/${LAN.prefix}`, 'dev', 'veth0'], {
      stdio: 'ignore',
    });
  } catch {
    /* it did not hold it */
  }
}

/**
 * The client logs in over SFTP on the virtual address and lists its home, checking the server's key
 * against $HOME/.ssh/known_hosts (curl refuses a host whose key is missing from it or differs): curl's exit
 * code (0 = logged in; 51 = the key did not match).
 */
export async function sftpLogin(p: VipPair, user: string, home = p.clientHome): Promise<number> {
  const r = await execIn(
    p.net,
    'client',
    'curl',
    ['-sS', '--max-time', '10', '-u', `${user}:${user}-pw`, `sftp://${LAN.vip}:${SFTP_PORT}/`],
    { env: { HOME: home } },
  );
  return r.code;
}

/** The client logs in on the virtual address and lists its home: curl's exit code (0 = logged in). */
export async function clientLogin(p: VipPair, user: string, maxTimeS = 2): Promise<number> {
  const r = await execIn(p.net, 'client', 'curl', [
    '-sS',
    '--max-time',
    String(maxTimeS),
    '-u',
    `${user}:${user}-pw`,
    `ftp://${LAN.vip}:${FTP_PORT}/`,
  ]);
  return r.code;
}

export function vipHolders(p: VipPair): Node[] {
  return (['prod', 'fail'] as const).filter((n) => holdsVip(p.net, n));
}

export interface VrrpLine {
  time: string;
  node: string;
  state: string;
  action: string;
  detail: string;
  failed: boolean;
}

export function vrrpLog(p: VipPair, n: Node): VrrpLine[] {
  const f = join(p.state[n], 'vrrp.log');
  return existsSync(f)
    ? readFileSync(f, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as VrrpLine)
        .filter((l) => l.action !== undefined)
    : [];
}

export function roleOf(p: VipPair, n: Node): string | undefined {
  const f = join(p.state[n], 'role.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as { role: string }).role : undefined;
}

export function note(p: VipPair, line: string): void {
  appendFileSync(join(p.logDir, 'test.log'), `${new Date().toISOString()} ${line}\n`);
}

export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 30_000,
  gaveUp: () => boolean = () => false,
): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (gaveUp()) throw new Error(`gave up waiting for ${what}: the process exited`);
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What keepalived announced last to the node's hooks (vrrp.d/, in spawn order). */
export function lastAnnounced(p: VipPair, n: Node): string | undefined {
  const dir = join(p.state[n], 'vrrp.d');
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir).sort();
  const last = files[files.length - 1];
  return last ? readFileSync(join(dir, last), 'utf8').trim() : undefined;
}

/** A killed node back: link up, ProFTPD, the daemon, keepalived (it rejoins as BACKUP and its hook demotes it). */
export async function restartNode(p: VipPair, n: Node): Promise<void> {
  setLink(p.net, n, true);
  await startProftpd(p, n);
  await startDaemon(p, n);
  await startKeepalived(p, n);
}

export { BIN as GITFAILOVER_BIN };

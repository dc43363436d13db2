import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { redact } from '../../src/util/redact.js';
import { NodeRepo } from '../../src/repo/node-repo.js';
import {
  cli,
  git,
  removeDir,
  snapshot,
  tempDir,
  writeDomain,
  writeFile,
  writeUser,
  type CliResult,
} from '../helpers/fixture.js';
import { sshKeygen, startSmartHttp, startSshd, type SmartHttpServer, type Sshd } from '../helpers/git-servers.js';
import { requireSystem } from '../helpers/system.js';

/**
 * Real remotes on loopback: git's smart-HTTP behind basic auth, and OpenSSH's sshd. Every output
 * of every run is kept so that the last test can show the secrets never appear in any of them.
 */
const PASSWORD = 'pw-Zq8!s3cr3t-never-logged';
const TOKEN = 'tok-7f1e9c2b4a-never-logged';
const WRONG = 'wrong-pw-9d8c7b-never-logged';
const outputs: string[] = [];

function keep(r: CliResult): CliResult {
  outputs.push(r.stdout, r.stderr);
  return r;
}

/** Every file under `dir` (state dirs, live dirs, git config, logs), as text. */
function everyFile(dir: string): string {
  let all = '';
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && statSync(p).size < 4 * 1024 * 1024) all += readFileSync(p, 'latin1');
    }
  };
  walk(dir);
  return all;
}

function nodeFile(path: string, value: Record<string, unknown>): string {
  writeFile(path, stringify(value));
  return path;
}

async function remoteHead(bare: string): Promise<string> {
  return (await git(['--git-dir', bare, 'rev-parse', '--verify', '--quiet', 'refs/heads/main']).catch(() => '')).trim();
}

function eventsTrigger(file: string) {
  // The sync event as a command sees it: only the GITFAILOVER_* variables (the daemon's own env,
  // which holds the password variable the node file names, is not what we check here).
  return [{ on: 'sync', exec: ['/bin/sh', '-c', `env | grep '^GITFAILOVER_' >> "$0"; echo >> "$0"`, file] }];
}

describe('https remote (git http-backend behind basic auth)', () => {
  let dir: string;
  let http: SmartHttpServer;
  let url: string;
  let bare: string;

  beforeAll(async () => {
    dir = tempDir('gf-https-');
    const root = join(dir, 'srv');
    bare = join(root, 'config.git');
    mkdirSync(root, { recursive: true });
    await git(['init', '-q', '--bare', '--initial-branch=main', bare]);
    http = await startSmartHttp(root, {
      deploy: { password: PASSWORD, write: true },
      standby: { password: TOKEN, write: false },
    });
    url = http.url('config.git');
  });
  afterAll(async () => {
    await http.close();
    removeDir(dir);
  });

  const env = () => ({ GF_GIT_PASSWORD: PASSWORD, GF_WRONG: WRONG });

  it('records and pushes with a password from env:, syncs a standby with a read-only token file', async () => {
    const prodLive = join(dir, 'prod');
    writeDomain(prodLive, 'acme', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    const primary = nodeFile(join(dir, 'primary.yaml'), {
      node: 'prod-1',
      role: 'primary',
      repo: {
        remote: url,
        stateDir: join(dir, 'prod-state'),
        auth: { username: 'deploy', password: 'env:GF_GIT_PASSWORD' },
      },
      live: { dir: prodLive },
    });
    const rec = keep(await cli(['record', '-c', primary, '-m', 'initial import'], { env: env() }));
    expect(rec.stderr).toBe('');
    expect(rec.code).toBe(0);
    const head = await remoteHead(bare);
    expect(head).toMatch(/^[0-9a-f]{40}$/);

    writeFile(join(dir, 'token'), `${TOKEN}\n`);
    chmodSync(join(dir, 'token'), 0o600);
    const failLive = join(dir, 'fail');
    const standby = nodeFile(join(dir, 'standby.yaml'), {
      node: 'failover-1',
      role: 'standby',
      repo: { remote: url, stateDir: join(dir, 'fail-state'), auth: { username: 'standby', tokenFile: 'token' } },
      live: { dir: failLive },
      substitution: { ips: { '10.0.0.5': '10.1.0.5' } },
      triggers: eventsTrigger(join(dir, 'events.log')),
    });
    const sync = keep(await cli(['sync', '-c', standby], { env: env() }));
    expect(sync.code, sync.stderr).toBe(0);
    expect(readFileSync(join(failLive, 'domains/acme/services.yaml'), 'utf8')).toContain('10.1.0.5');
    const status = keep(await cli(['status', '-c', standby, '--json'], { env: env() }));
    expect(JSON.parse(status.stdout)).toMatchObject({ appliedCommit: head, behind: 0 });
    // Both users really were asked for credentials and let in by the server.
    expect(http.requests.some((r) => r.user === 'deploy' && r.path.endsWith('git-receive-pack'))).toBe(true);
    expect(http.requests.some((r) => r.user === 'standby')).toBe(true);
    // Nothing on disk remembers a credential: no credential helper ran, no URL holds one.
    expect(readFileSync(join(dir, 'prod-state', 'repo.git', 'config'), 'utf8')).not.toMatch(
      /credential|askpass|deploy@/i,
    );
  });

  // record fetches before it commits, so a refused credential is met on the fetch already
  it('a wrong password on the primary is a clear error naming the remote, and the remote does not change', async () => {
    const before = await remoteHead(bare);
    writeUser(join(dir, 'prod'), 'acme', 'bob');
    const primary = nodeFile(join(dir, 'primary-wrong.yaml'), {
      node: 'prod-1',
      role: 'primary',
      repo: { remote: url, stateDir: join(dir, 'prod-state'), auth: { username: 'deploy', password: 'env:GF_WRONG' } },
      live: { dir: join(dir, 'prod') },
    });
    const rec = keep(await cli(['record', '-c', primary], { env: env() }));
    expect(rec.code).toBe(1);
    expect(rec.stderr).toContain(
      `cannot fetch from ${url}: the server refused the credentials of repo.auth (user deploy)`,
    );
    expect(await remoteHead(bare)).toBe(before);
  });

  it('a read-only token cannot push: the error says it needs write access', async () => {
    const before = await remoteHead(bare);
    const primary = nodeFile(join(dir, 'primary-ro.yaml'), {
      node: 'prod-1',
      role: 'primary',
      repo: { remote: url, stateDir: join(dir, 'prod-state'), auth: { username: 'standby', tokenFile: 'token' } },
      live: { dir: join(dir, 'prod') },
    });
    const rec = keep(await cli(['record', '-c', primary], { env: env() }));
    expect(rec.code).toBe(1);
    expect(rec.stderr).toMatch(
      /cannot push to http:\/\/127\.0\.0\.1:\d+\/config\.git: .*token file .*write \(push\) access/,
    );
    expect(await remoteHead(bare)).toBe(before);
  });

  it('a wrong token on the standby fails the sync with the remote named, and the live dir and applied commit stay', async () => {
    // the primary (right password) pushes bob, so there is something the standby would apply
    const primary = join(dir, 'primary.yaml');
    expect(keep(await cli(['record', '-c', primary], { env: env() })).code).toBe(0);
    const standby = join(dir, 'standby.yaml');
    const liveBefore = snapshot(join(dir, 'fail'));
    const stateBefore = JSON.parse(
      keep(await cli(['status', '-c', standby, '--json', '--no-fetch'], { env: env() })).stdout,
    ).appliedCommit;
    writeFile(join(dir, 'token'), `${WRONG}\n`);
    const sync = keep(await cli(['sync', '-c', standby], { env: env() }));
    writeFile(join(dir, 'token'), `${TOKEN}\n`);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain(`cannot fetch from ${url}`);
    expect(sync.stderr).toMatch(/refused the credentials of repo\.auth \(user standby, token file .*token\)/);
    expect(snapshot(join(dir, 'fail'))).toEqual(liveBefore);
    const after = JSON.parse(keep(await cli(['status', '-c', standby, '--json', '--no-fetch'], { env: env() })).stdout);
    expect(after.appliedCommit).toBe(stateBefore);
    expect(after.lastSync.success).toBe(false);

    // With the token back (the file is read again on every fetch), the next sync applies bob.
    const again = keep(await cli(['sync', '-c', standby, '--enable'], { env: env() }));
    expect(again.code, again.stderr).toBe(0);
    const fixed = keep(await cli(['sync', '-c', standby], { env: env() }));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(existsSync(join(dir, 'fail', 'domains/acme/users/bob.yaml'))).toBe(true);
  });

  it('ls-remote (NodeRepo.remoteHead, used by doctor) uses the same credentials', async () => {
    const spec = { remote: url, branch: 'main', stateDir: join(dir, 'lsremote-state') };
    const good = new NodeRepo({ ...spec, auth: { username: 'standby', password: TOKEN } });
    expect(await good.remoteHead()).toBe(await remoteHead(bare));
    const bad = new NodeRepo({ ...spec, auth: { username: 'standby', password: WRONG } });
    const err = await bad.remoteHead().catch((e: unknown) => e as Error & { code: string });
    expect(err).toMatchObject({ code: 'E_REMOTE_AUTH' });
    outputs.push(String((err as Error).message), JSON.stringify((err as { data?: unknown }).data));
    expect(existsSync(join(dir, 'lsremote-state'))).toBe(false); // a check writes nothing
    good.close();
    bad.close();
  });

  it('without repo.auth, a remote that asks for credentials says to set repo.auth', async () => {
    const standby = nodeFile(join(dir, 'standby-noauth.yaml'), {
      node: 'failover-2',
      role: 'standby',
      repo: { remote: url, stateDir: join(dir, 'noauth-state') },
      live: { dir: join(dir, 'noauth-live') },
    });
    const sync = keep(await cli(['sync', '-c', standby], { env: env() }));
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain(`cannot fetch from ${url}: the server asks for credentials: set repo.auth`);
  });

  it('no password nor token in any output, event, status, state dir or git config of these runs', () => {
    const events = readFileSync(join(dir, 'events.log'), 'utf8');
    expect(events).toContain('GITFAILOVER_SUCCESS=false'); // the failed sync's event was delivered
    const everything =
      outputs.join('\n') +
      events +
      everyFile(join(dir, 'prod-state')) +
      everyFile(join(dir, 'fail-state')) +
      everyFile(join(dir, 'fail'));
    for (const secret of [PASSWORD, TOKEN, WRONG]) expect(everything).not.toContain(secret);
  });
});

describe.skipIf(!requireSystem(['openssh-server', 'openssh-client']).ok)(
  'ssh remote (OpenSSH sshd with a deploy key)',
  () => {
    let dir: string;
    let keys: string;
    let sshd: Sshd;
    let url: string;
    let bare: string;

    beforeAll(async () => {
      dir = tempDir('gf-ssh-');
      keys = join(dir, 'keys with space'); // paths from the node file reach ssh intact
      mkdirSync(keys);
      sshKeygen(join(keys, 'deploy'));
      sshKeygen(join(keys, 'stranger'));
      bare = join(dir, 'srv', 'config.git');
      await git(['init', '-q', '--bare', '--initial-branch=main', bare]);
      sshd = await startSshd(join(dir, 'sshd'), [readFileSync(join(keys, 'deploy.pub'), 'utf8').trim()]);
      url = sshd.url(bare);
      writeFile(join(keys, 'known_hosts'), sshd.knownHostsLine);
      // another server's key under this server's name: what a man in the middle would present
      sshKeygen(join(dir, 'other_host'));
      writeFile(
        join(keys, 'wrong_known_hosts'),
        `[127.0.0.1]:${sshd.port} ${readFileSync(join(dir, 'other_host.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`,
      );
    });
    afterAll(async () => {
      await sshd?.close();
      removeDir(dir);
    });

    const primaryFile = (name: string, repo: Record<string, unknown>) =>
      nodeFile(join(dir, `${name}.yaml`), {
        node: 'prod-1',
        role: 'primary',
        repo: { remote: url, stateDir: join(dir, 'prod-state'), ...repo },
        live: { dir: join(dir, 'prod') },
      });

    it('records and pushes with the deploy key, and a standby syncs over ssh with strict host key checking', async () => {
      writeDomain(join(dir, 'prod'), 'acme', {
        services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
        users: ['alice'],
      });
      const primary = primaryFile('primary', { sshKey: join(keys, 'deploy'), knownHosts: join(keys, 'known_hosts') });
      const rec = await cli(['record', '-c', primary]);
      expect(rec.code, rec.stderr + sshd.log()).toBe(0);
      const head = await remoteHead(bare);
      expect(head).toMatch(/^[0-9a-f]{40}$/);

      const standby = nodeFile(join(dir, 'standby.yaml'), {
        node: 'failover-1',
        role: 'standby',
        repo: {
          remote: url,
          stateDir: join(dir, 'fail-state'),
          sshKey: join(keys, 'deploy'),
          knownHosts: join(keys, 'known_hosts'),
        },
        live: { dir: join(dir, 'fail') },
        substitution: { ips: { '10.0.0.5': '10.1.0.5' } },
      });
      const sync = await cli(['sync', '-c', standby]);
      expect(sync.code, sync.stderr).toBe(0);
      expect(readFileSync(join(dir, 'fail', 'domains/acme/services.yaml'), 'utf8')).toContain('10.1.0.5');
      expect(JSON.parse((await cli(['status', '-c', standby, '--json'])).stdout)).toMatchObject({
        appliedCommit: head,
        behind: 0,
      });
      // the known-hosts file is only read: strict checking never adds to it
      expect(readFileSync(join(keys, 'known_hosts'), 'utf8')).toBe(sshd.knownHostsLine);
    });

    it('a key the server does not know is refused with a clear error naming the remote, and nothing changes', async () => {
      const before = await remoteHead(bare);
      writeUser(join(dir, 'prod'), 'acme', 'bob');
      const primary = primaryFile('primary-stranger', {
        sshKey: join(keys, 'stranger'),
        knownHosts: join(keys, 'known_hosts'),
      });
      const rec = await cli(['record', '-c', primary]);
      expect(rec.code).toBe(1);
      expect(rec.stderr).toContain(
        `cannot fetch from ${redact(url)}: the server refused the key repo.sshKey (${join(keys, 'stranger')}): add its public key as a deploy key`,
      );
      expect(await remoteHead(bare)).toBe(before);
    });

    it('an unknown host key is refused (strict checking) with a clear error, and nothing changes', async () => {
      const before = await remoteHead(bare);
      const liveBefore = snapshot(join(dir, 'fail'));
      const standby = nodeFile(join(dir, 'standby-mitm.yaml'), {
        node: 'failover-1',
        role: 'standby',
        repo: {
          remote: url,
          stateDir: join(dir, 'fail-state'),
          sshKey: join(keys, 'deploy'),
          knownHosts: join(keys, 'wrong_known_hosts'),
        },
        live: { dir: join(dir, 'fail') },
      });
      const sync = await cli(['sync', '-c', standby]);
      expect(sync.code).toBe(1);
      expect(sync.stderr).toContain(
        `cannot fetch from ${redact(url)}: the server's host key is not in repo.knownHosts (${join(keys, 'wrong_known_hosts')}) or differs from it`,
      );
      expect(snapshot(join(dir, 'fail'))).toEqual(liveBefore);

      // An empty known-hosts file: the host is unknown, and strict checking does not add it.
      writeFile(join(keys, 'empty_known_hosts'), '');
      const primary = primaryFile('primary-unknown', {
        sshKey: join(keys, 'deploy'),
        knownHosts: join(keys, 'empty_known_hosts'),
      });
      const rec = await cli(['record', '-c', primary]);
      expect(rec.code).toBe(1);
      expect(rec.stderr).toContain(`cannot fetch from ${redact(url)}: the server's host key is not in repo.knownHosts`);
      expect(readFileSync(join(keys, 'empty_known_hosts'), 'utf8')).toBe('');
      expect(await remoteHead(bare)).toBe(before);
    });

    it('strictHostKeyChecking: accept-new records the host key the first time, then pushes', async () => {
      writeFile(join(keys, 'tofu_known_hosts'), '');
      const primary = primaryFile('primary-tofu', {
        sshKey: join(keys, 'deploy'),
        knownHosts: join(keys, 'tofu_known_hosts'),
        strictHostKeyChecking: 'accept-new',
      });
      const rec = await cli(['record', '-c', primary]);
      expect(rec.code, rec.stderr).toBe(0);
      // (Debian's ssh_config hashes host names, so look for the key rather than the name)
      expect(readFileSync(join(keys, 'tofu_known_hosts'), 'utf8')).toContain(sshd.knownHostsLine.split(' ')[2]!.trim());
    });
  },
);

import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { cli, makePair, removeDir, startCli, writeDomain, writeUser, type Pair } from '../helpers/fixture.js';

/**
 * Changing the configuration through git while both daemons run (real processes, real repos): a
 * commit pushed from a third clone reaches production's live dir and the failover's, announced by
 * a forge's signed push webhook or found by polling, and production's next live edit keeps it.
 */

const SECRET = 'pull-request-webhook-secret-0123';
const env = { GF_SECRET: SECRET };
const children: ChildProcess[] = [];
const pairs: Pair[] = [];
let debugOut: (() => string) | undefined;
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const p of pairs.splice(0)) removeDir(p.dir);
});

async function waitFor(what: string, check: () => boolean, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms)
      throw new Error(`timed out waiting for ${what}${debugOut ? `; output:\n${debugOut()}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function gitAt(dir: string, args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      LC_ALL: 'C',
      GIT_AUTHOR_NAME: 'Rita Reviewer',
      GIT_AUTHOR_EMAIL: 'rita@example.com',
      GIT_COMMITTER_NAME: 'Rita Reviewer',
      GIT_COMMITTER_EMAIL: 'rita@example.com',
    },
  }).trim();
}

/** A person's clone: write, commit and push one change. */
function pushFromClone(clone: string, message: string, files: Record<string, string | null>): string {
  gitAt(clone, ['pull', '--quiet', '--rebase', 'origin', 'main']);
  for (const [rel, text] of Object.entries(files)) {
    if (text === null) gitAt(clone, ['rm', '--quiet', rel]);
    else {
      mkdirSync(dirname(join(clone, rel)), { recursive: true });
      writeFileSync(join(clone, rel), text);
    }
  }
  gitAt(clone, ['add', '-A']);
  gitAt(clone, ['commit', '--quiet', '-m', message]);
  gitAt(clone, ['push', '--quiet', 'origin', 'HEAD:main']);
  return gitAt(clone, ['rev-parse', 'HEAD']);
}

const user = (name: string) => stringify({ name, home: `/home/${name}`, permissions: ['read'] });

/** Both daemons on loopback; the primary's listener takes forge webhooks. */
async function startBoth(
  primaryExtra: Record<string, unknown>,
): Promise<{ p: Pair; primaryUrl: string; primaryOut: () => string }> {
  const p = makePair({
    standby: {
      sync: { automatic: true, interval: '1h' },
      notify: { listen: '127.0.0.1:0', secret: 'env:GF_SECRET', heartbeat: '1h' },
    },
  });
  pairs.push(p);
  execFileSync('git', ['init', '-q', '--bare', '--initial-branch=main', p.remote]);
  writeDomain(p.prodLive, 'acme', {
    services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
    users: ['alice'],
  });
  const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/, { env });
  children.push(standby.child);
  const standbyAddress = /standby ready on (\S+):/.exec(standby.output())![1]!;
  writeFileSync(
    p.primary,
    readFileSync(p.primary, 'utf8') +
      stringify({
        notify: {
          listen: '127.0.0.1:0',
          standbys: [`http://${standbyAddress}/notify`],
          secret: 'env:GF_SECRET',
          heartbeat: '1h',
        },
        ...primaryExtra,
      }),
  );
  const primary = await startCli(['primary', '-c', p.primary], /ready: watching/, { env });
  children.push(primary.child);
  debugOut = () => `${primary.output()}\n--- standby:\n${standby.output()}`;
  const primaryAddress = /listening on (\S+): \/notify/.exec(primary.output())![1]!;
  await waitFor('the first sync of the failover', () => existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')));
  return { p, primaryUrl: `http://${primaryAddress}/notify`, primaryOut: primary.output };
}

function post(url: string, body: string, headers: Record<string, string>): Promise<number> {
  return fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
  );
}

const hmac = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

describe('changing the configuration through pull requests', () => {
  it('a pushed commit with a GitHub-signed webhook reaches both live dirs at once; Gitea and GitLab too; replays and bad signatures are refused', async () => {
    const { p, primaryUrl, primaryOut } = await startBoth({ sync: { interval: '1h' } });
    const clone = join(p.dir, 'clone');
    execFileSync('git', ['clone', '--quiet', p.remote, clone]);

    // GitHub: X-Hub-Signature-256 over the body, X-GitHub-Delivery for de-duplication.
    const head = pushFromClone(clone, 'PR #1: add bob', { 'domains/acme/users/bob.yaml': user('bob') });
    const ghBody = JSON.stringify({
      ref: 'refs/heads/main',
      after: head,
      repository: { pushed_at: Math.floor(Date.now() / 1000) },
    });
    const ghHeaders = {
      'x-github-event': 'push',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': `sha256=${hmac(ghBody)}`,
    };
    expect(
      await post(primaryUrl, ghBody, { ...ghHeaders, 'x-hub-signature-256': `sha256=${hmac(ghBody, 'wrong-secret')}` }),
    ).toBe(401);
    expect(await post(primaryUrl, ghBody, ghHeaders)).toBe(202);
    expect(await post(primaryUrl, ghBody, ghHeaders)).toBe(409); // the same delivery again
    await waitFor('bob in production', () => existsSync(join(p.prodLive, 'domains/acme/users/bob.yaml')));
    await waitFor('bob on the failover', () => existsSync(join(p.failLive, 'domains/acme/users/bob.yaml')));
    expect(readFileSync(join(p.failLive, 'domains/acme/services.yaml'), 'utf8')).toContain('10.1.0.5');
    expect(readFileSync(join(p.prodLive, 'domains/acme/services.yaml'), 'utf8')).toContain('10.0.0.5');

    // Production's next live edit keeps the merged commit: the remote head holds both.
    writeUser(p.prodLive, 'acme', 'carol');
    await waitFor('carol at the remote head', () =>
      gitAt(p.remote, ['ls-tree', '--name-only', 'main', 'domains/acme/users/']).includes('carol.yaml'),
    );
    expect(gitAt(p.remote, ['ls-tree', '--name-only', 'main', 'domains/acme/users/'])).toContain('bob.yaml');
    expect(gitAt(p.remote, ['merge-base', '--is-ancestor', head, 'main'])).toBe('');
    await waitFor('carol on the failover', () => existsSync(join(p.failLive, 'domains/acme/users/carol.yaml')));
    expect(existsSync(join(p.prodLive, 'domains/acme/users/bob.yaml'))).toBe(true);

    // Gitea/Forgejo: X-Gitea-Signature is the bare hex HMAC; X-Gitea-Delivery de-duplicates.
    pushFromClone(clone, 'PR #2: add dan', { 'domains/acme/users/dan.yaml': user('dan') });
    const giteaBody = JSON.stringify({ ref: 'refs/heads/main' });
    const gitea = { 'x-gitea-event': 'push', 'x-gitea-delivery': randomUUID(), 'x-gitea-signature': hmac(giteaBody) };
    expect(await post(primaryUrl, giteaBody, { ...gitea, 'x-gitea-signature': hmac(giteaBody, 'wrong-secret') })).toBe(
      401,
    );
    expect(await post(primaryUrl, giteaBody, gitea)).toBe(202);
    expect(await post(primaryUrl, giteaBody, gitea)).toBe(409);
    await waitFor('dan in production', () => existsSync(join(p.prodLive, 'domains/acme/users/dan.yaml')));
    await waitFor('dan on the failover', () => existsSync(join(p.failLive, 'domains/acme/users/dan.yaml')));

    // GitLab: X-Gitlab-Token is the secret itself; X-Gitlab-Event-UUID de-duplicates.
    pushFromClone(clone, 'MR !3: add erin', { 'domains/acme/users/erin.yaml': user('erin') });
    const glBody = JSON.stringify({ object_kind: 'push', ref: 'refs/heads/main' });
    const gitlab = { 'x-gitlab-event': 'Push Hook', 'x-gitlab-event-uuid': randomUUID(), 'x-gitlab-token': SECRET };
    expect(await post(primaryUrl, glBody, { ...gitlab, 'x-gitlab-token': 'wrong-secret' })).toBe(401);
    expect(await post(primaryUrl, glBody, { 'x-gitlab-event': 'Push Hook', 'x-gitlab-token': SECRET })).toBe(401); // no delivery id: a replay could not be told
    expect(await post(primaryUrl, glBody, gitlab)).toBe(202);
    expect(await post(primaryUrl, glBody, gitlab)).toBe(409);
    await waitFor('erin in production', () => existsSync(join(p.prodLive, 'domains/acme/users/erin.yaml')));
    await waitFor('erin on the failover', () => existsSync(join(p.failLive, 'domains/acme/users/erin.yaml')));
    expect(primaryOut()).toMatch(/refused notify from 127\.0\.0\.1: bad signature/);
  }, 240_000);

  it('with polling only, a pushed commit and then its git revert reach both live dirs; log credits the author', async () => {
    const { p } = await startBoth({ sync: { interval: '300ms' } });
    const clone = join(p.dir, 'clone');
    execFileSync('git', ['clone', '--quiet', p.remote, clone]);

    pushFromClone(clone, 'add user frank', { 'domains/acme/users/frank.yaml': user('frank') });
    await waitFor('frank in production', () => existsSync(join(p.prodLive, 'domains/acme/users/frank.yaml')));
    await waitFor('frank on the failover', () => existsSync(join(p.failLive, 'domains/acme/users/frank.yaml')));

    gitAt(clone, ['revert', '--no-edit', 'HEAD']);
    gitAt(clone, ['push', '--quiet', 'origin', 'HEAD:main']);
    const revert = gitAt(clone, ['rev-parse', 'HEAD']);
    await waitFor('frank gone from production', () => !existsSync(join(p.prodLive, 'domains/acme/users/frank.yaml')));
    await waitFor('frank gone from the failover', () => !existsSync(join(p.failLive, 'domains/acme/users/frank.yaml')));
    expect(existsSync(join(p.prodLive, 'domains/acme/users/alice.yaml'))).toBe(true);

    const log = JSON.parse((await cli(['log', '-c', p.primary, '--json'], { env })).stdout) as {
      commit: string;
      author: string;
    }[];
    expect(log.find((e) => e.commit === revert)).toMatchObject({ author: 'Rita Reviewer' });
    expect(gitAt(p.remote, ['rev-parse', 'main'])).toBe(revert); // production recorded nothing over it
  }, 240_000);
});

import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, initRemote, makePair, removeDir, snapshot, writeDomain, writeUser } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';

/**
 * OpenPGP signatures beside SSH ones, with real gpg: a forge signs the merge commits made in its
 * web interface with its own OpenPGP key (GitHub's web-flow key). Here a throwaway key in a temp
 * GNUPGHOME plays the forge; a node that lists its public key in repo.verify.gpgKeyring applies a
 * merged pull request (whose own commits are unsigned) and refuses a commit signed by any other
 * OpenPGP key, even one the invoking user's own GNUPGHOME trusts ultimately.
 */
const p = makePair();
const homes: string[] = [];
afterAll(() => {
  // The agents gpg started for signing in the temp homes: stopped by home, nothing else.
  for (const h of homes) execFileSync('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: h } });
  removeDir(p.dir);
});

/** A signing key with no passphrase in its own GNUPGHOME; returns the home and the fingerprint. */
function gpgKey(name: string): { home: string; fpr: string } {
  const home = join(p.dir, `gpg-${name}`);
  mkdirSync(home, { mode: 0o700 });
  homes.push(home);
  const env = { ...process.env, GNUPGHOME: home };
  const params = `%no-protection\nKey-Type: EDDSA\nKey-Curve: ed25519\nName-Real: ${name}\nName-Email: ${name}@example.com\nExpire-Date: 0\n%commit\n`;
  execFileSync('gpg', ['--batch', '--quiet', '--gen-key'], { input: params, env, stdio: ['pipe', 'ignore', 'ignore'] });
  const colons = execFileSync('gpg', ['--batch', '--with-colons', '--list-keys'], {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return { home, fpr: /^fpr:+([0-9A-F]{40}):/m.exec(colons)![1]! };
}

function gpgIn(home: string, args: string[]): Buffer {
  return execFileSync('gpg', ['--batch', ...args], {
    env: { ...process.env, GNUPGHOME: home },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** git in the admin's clone, signing with `sign` (an OpenPGP key, through gpg) or an SSH key. */
function gitAs(
  args: string[],
  cwd: string,
  sign?: { gpg?: { home: string; fpr: string }; ssh?: string },
): Promise<string> {
  const config = sign?.gpg
    ? ['-c', 'gpg.program=gpg', '-c', `user.signingkey=${sign.gpg.fpr}`]
    : sign?.ssh
      ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${sign.ssh}`]
      : [];
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@t',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@t',
    ...(sign?.gpg ? { GNUPGHOME: sign.gpg.home } : {}),
  };
  return new Promise((resolve, reject) =>
    execFile('git', [...config, ...args], { cwd, env }, (err, stdout, stderr) =>
      err ? reject(new Error(`git ${args.join(' ')}: ${stderr}`)) : resolve(stdout),
    ),
  );
}

function editNodeFile(file: string, edit: (doc: Record<string, any>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  edit(doc);
  writeFileSync(file, stringify(doc));
}

describe.skipIf(!requireSystem(['gnupg']).ok)('OpenPGP signatures', () => {
  it('applies a pull request merged with the forge key and refuses a commit by an unknown OpenPGP key', async () => {
    await initRemote(p);
    const sshKey = join(p.dir, 'primary-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'primary', '-f', sshKey]);
    const allowed = join(p.dir, 'allowed_signers');
    writeFileSync(allowed, `prod-1@gitfailover namespaces="git" ${readFileSync(`${sshKey}.pub`, 'utf8')}`);
    const forge = gpgKey('web-flow');
    const stranger = gpgKey('stranger');
    // Armored, as https://github.com/web-flow.gpg serves it.
    const forgeKey = join(p.dir, 'web-flow.asc');
    writeFileSync(forgeKey, gpgIn(forge.home, ['--armor', '--export', forge.fpr]));
    editNodeFile(p.standby, (d) => (d.repo.verify = { allowedSigners: allowed, gpgKeyring: forgeKey }));

    // The first commit signed with the primary's SSH key; then a pull request with an unsigned
    // commit of its own, merged in the "web interface": a merge commit signed by the forge key.
    const work = join(p.dir, 'admin');
    await git(['clone', '-q', p.remote, work]);
    writeDomain(work, 'acme', { users: ['bob'] });
    await gitAs(['add', '-A'], work);
    await gitAs(['commit', '-q', '-S', '-m', 'acme'], work, { ssh: sshKey });
    await gitAs(['push', '-q', 'origin', 'HEAD:main'], work);
    await gitAs(['checkout', '-q', '-b', 'pr'], work);
    writeUser(work, 'acme', 'alice');
    await gitAs(['add', '-A'], work);
    await gitAs(['commit', '-q', '--no-gpg-sign', '-m', 'add alice'], work);
    await gitAs(['checkout', '-q', 'main'], work);
    await gitAs(['merge', '-q', '--no-ff', '-S', '-m', 'Merge pull request #1 from admin/pr', 'pr'], work, {
      gpg: forge,
    });
    await gitAs(['push', '-q', 'origin', 'HEAD:main'], work);
    const merge = (await gitAs(['rev-parse', 'HEAD'], work)).trim();

    let r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(p.failLive, 'domains/acme/users/alice.yaml'))).toBe(true);
    const stateDir = join(p.dir, 'fail-state');
    expect(JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')).verifiedCommit).toBe(merge);
    // The node's own GNUPGHOME: built in the state dir, and no agent left running there.
    const home = readdirSync(stateDir).filter((e) => e.startsWith('gnupg-'));
    expect(home).toHaveLength(1);
    expect(readdirSync(join(stateDir, home[0]!)).filter((e) => e.startsWith('S.'))).toEqual([]);
    const served = snapshot(p.failLive);

    // A commit signed by another OpenPGP key: refused, although the user running the sync has
    // that key (with ultimate trust) in the GNUPGHOME of their environment.
    writeUser(work, 'acme', 'trudy');
    await gitAs(['add', '-A'], work);
    await gitAs(['commit', '-q', '-S', '-m', 'add trudy'], work, { gpg: stranger });
    await gitAs(['push', '-q', 'origin', 'HEAD:main'], work);
    const foreign = (await gitAs(['rev-parse', 'HEAD'], work)).trim();
    r = await cli(['sync', '-c', p.standby], { env: { GNUPGHOME: stranger.home } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `commit ${foreign.slice(0, 12)} is refused: it is signed by an OpenPGP key ${stranger.fpr.slice(-16)} that is not in repo.verify.gpgKeyring`,
    );
    expect(snapshot(p.failLive)).toEqual(served);
    // doctor runs the same check on the remote head.
    r = await cli(['doctor', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL  signatures: commit ${foreign.slice(0, 12)} is refused`);

    // Trusting that key too (a binary keyring this time): the node's GNUPGHOME is rebuilt, the old one removed, and the commit applies.
    const strangerKey = join(p.dir, 'stranger.gpg');
    writeFileSync(strangerKey, gpgIn(stranger.home, ['--export', stranger.fpr]));
    editNodeFile(p.standby, (d) => (d.repo.verify.gpgKeyring = [forgeKey, strangerKey]));
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(p.failLive, 'domains/acme/users/trudy.yaml'))).toBe(true);
    const rebuilt = readdirSync(stateDir).filter((e) => e.startsWith('gnupg-') || e.startsWith('.gnupg-'));
    expect(rebuilt).toHaveLength(1);
    expect(rebuilt[0]).not.toBe(home[0]);
  }, 180_000);

  it('with only an OpenPGP keyring, refuses an SSH-signed commit without git complaining on stderr, and names a bad keyring', async () => {
    // The remote of the first test: its first commit is SSH-signed.
    const node = join(p.dir, 'pgp-only.yaml');
    const live = join(p.dir, 'pgp-live');
    mkdirSync(live);
    const forgeKey = join(p.dir, 'web-flow.asc');
    writeFileSync(
      node,
      stringify({
        node: 'failover-2',
        role: 'standby',
        repo: { remote: p.remote, stateDir: join(p.dir, 'pgp-state'), verify: { gpgKeyring: [forgeKey] } },
        live: { dir: live },
      }),
    );
    let r = await cli(['sync', '-c', node]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /is refused: it is signed by an SSH key SHA256:\S+ that is not in repo\.verify\.allowedSigners/,
    );
    expect(r.stderr).not.toMatch(/allowedSignersFile|^error:/m);
    expect(readdirSync(live)).toEqual([]);

    // A secret key where a public one belongs, and a file that is not there.
    const secret = join(p.dir, 'secret.asc');
    writeFileSync(secret, gpgIn(homes[0]!, ['--armor', '--export-secret-keys']));
    editNodeFile(node, (d) => (d.repo.verify = { gpgKeyring: [forgeKey, secret] }));
    r = await cli(['sync', '-c', node]);
    expect(r.code).toBe(2); // a node-file error
    expect(r.stderr).toContain(`repo.verify.gpgKeyring ${secret} (in ${node}) holds a secret key`);
    editNodeFile(node, (d) => (d.repo.verify = { gpgKeyring: [join(p.dir, 'missing.gpg')] }));
    r = await cli(['sync', '-c', node]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`repo.verify.gpgKeyring ${join(p.dir, 'missing.gpg')} (in ${node}) does not exist`);
    expect(readdirSync(live)).toEqual([]);
  }, 120_000);
});

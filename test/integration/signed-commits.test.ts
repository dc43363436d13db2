import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, initRemote, makePair, removeDir, snapshot, writeDomain, writeUser } from '../helpers/fixture.js';
import type { Pair } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';

/**
 * Signed commits with throwaway SSH keys: the primary signs what it records (record.signingKey),
 * the standby applies only what an allowed key signed (repo.verify.allowedSigners) and refuses an
 * unsigned or a foreign-signed commit, firing the sync event with the refusal.
 */
const p = makePair();
afterAll(() => removeDir(p.dir));

function keygen(name: string): string {
  const key = join(p.dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', key]);
  return key;
}

function editNodeFile(file: string, edit: (doc: Record<string, any>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  edit(doc);
  writeFileSync(file, stringify(doc));
}

/** A commit made with plain git in a clone (an admin's push), optionally signed with `key`. */
async function adminCommit(user: string, key?: string): Promise<string> {
  const work = join(p.dir, 'admin');
  if (!existsSync(work)) await git(['clone', '-q', p.remote, work]);
  await git(['pull', '-q', '--ff-only'], work);
  writeUser(work, 'acme', user);
  await git(['add', '-A'], work);
  await git(
    [
      ...(key ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`] : []),
      'commit',
      '-q',
      ...(key ? ['-S'] : ['--no-gpg-sign']),
      '-m',
      `add ${user}`,
    ],
    work,
  );
  await git(['push', '-q', 'origin', 'HEAD:main'], work);
  return (await git(['rev-parse', 'HEAD'], work)).trim();
}

/**
 * An administrator's clone of `q`'s remote with an SSH signing key listed in `allowed` (an
 * allowed signers file); `commit` adds everything, commits (signed or not) and pushes.
 */
async function adminSigner(q: Pair) {
  const key = join(q.dir, 'admin-key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin', '-f', key]);
  const allowed = join(q.dir, 'allowed_signers');
  writeFileSync(allowed, `admin@example namespaces="git" ${readFileSync(`${key}.pub`, 'utf8')}`);
  const work = join(q.dir, 'admin');
  await git(['clone', '-q', q.remote, work]);
  const commit = async (msg: string, signed: boolean, extra: string[] = []) => {
    await git(['add', '-A'], work);
    const sign = signed ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`] : [];
    await git([...sign, 'commit', '-q', signed ? '-S' : '--no-gpg-sign', ...extra, '-m', msg], work);
    await git(['push', '-q', 'origin', 'HEAD:main'], work);
    return (await git(['rev-parse', 'HEAD'], work)).trim();
  };
  return { key, allowed, work, commit };
}

// SSH signatures: git runs ssh-keygen -Y to sign and to verify.
describe.skipIf(!requireSystem(['openssh-client']).ok)('signed commits', () => {
  it('applies commits signed by an allowed key and refuses an unsigned or a foreign-signed one, firing the event', async () => {
    await initRemote(p);
    const allowedKey = keygen('primary-key');
    const foreignKey = keygen('stranger-key');
    const allowed = join(p.dir, 'allowed_signers');
    writeFileSync(allowed, `prod-1@gitfailover namespaces="git" ${readFileSync(`${allowedKey}.pub`, 'utf8')}`);
    const events = join(p.dir, 'events.log');
    editNodeFile(p.primary, (d) => (d.record = { ...d.record, signingKey: allowedKey }));
    editNodeFile(p.standby, (d) => {
      d.repo.verify = { allowedSigners: allowed };
      d.triggers = [
        {
          on: 'sync',
          if: 'success == false',
          exec: ['/bin/sh', '-c', 'printf "%s\\n" "$GITFAILOVER_ERROR" >> "$0"', events],
        },
      ];
    });

    // 1. Two recorded (hence signed) commits: applied, the first by a full sync, the second by a partial one.
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    let r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    writeUser(p.prodLive, 'acme', 'bob');
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    const signedHead = (await git(['rev-parse', 'main'], p.remote)).trim();
    const status = execFileSync(
      'git',
      ['-c', 'gpg.format=ssh', '-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'log', '--format=%G? %GS', 'main'],
      { cwd: p.remote, encoding: 'utf8' },
    );
    expect(status.trim().split('\n')).toEqual(['G prod-1@gitfailover', 'G prod-1@gitfailover']);
    const served = snapshot(p.failLive);
    expect(served['domains/acme/users/bob.yaml']).toBeDefined();

    // 2. An unsigned commit pushed by hand: refused, nothing applied, the event fired.
    const unsigned = await adminCommit('mallory');
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(unsigned.slice(0, 12));
    expect(r.stderr).toMatch(/is not signed/);
    expect(snapshot(p.failLive)).toEqual(served);
    expect(JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout).appliedCommit).toBe(signedHead);

    // 3. A commit signed by a key that is not in the allowed signers file: refused as well.
    await git(['push', '-q', '-f', 'origin', `${signedHead}:main`], join(p.dir, 'admin'));
    await git(['reset', '-q', '--hard', signedHead], join(p.dir, 'admin'));
    const foreign = await adminCommit('trudy', foreignKey);
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(foreign.slice(0, 12));
    expect(r.stderr).toMatch(/not in repo\.verify\.allowedSigners/);
    expect(snapshot(p.failLive)).toEqual(served);

    // The sync event fired for each refusal (the trigger ran with the error).
    const fired = readFileSync(events, 'utf8').trim().split('\n');
    expect(fired).toHaveLength(2);
    expect(fired[0]).toContain(unsigned.slice(0, 12));
    expect(fired[1]).toContain(foreign.slice(0, 12));

    // 4. A signed commit by the allowed key on top of the foreign one is still refused (every new commit counts) ...
    const onTop = await adminCommit('carol', allowedKey);
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(foreign.slice(0, 12));

    // ... and once the foreign commit is gone from the branch, the signed ones apply.
    await git(['push', '-q', '-f', 'origin', `${signedHead}:main`], join(p.dir, 'admin'));
    await git(['reset', '-q', '--hard', signedHead], join(p.dir, 'admin'));
    await adminCommit('dave', allowedKey);
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(p.failLive, 'domains/acme/users/dave.yaml'))).toBe(true);
    expect(existsSync(join(p.failLive, 'domains/acme/users/trudy.yaml'))).toBe(false);
    expect(onTop).not.toBe(signedHead);
  }, 120_000);

  it('refuses an unsigned commit below a signed tip in a full sync too: sync --full, a new standby (the back door of issue 18.8)', async () => {
    const q = makePair();
    try {
      await initRemote(q);
      const { allowed, work, commit } = await adminSigner(q);
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: allowed }));
      writeDomain(work, 'acme', { users: ['alice'] });
      const good = await commit('acme', true);
      let r = await cli(['sync', '-c', q.standby]);
      expect(r.code, r.stderr).toBe(0);
      const served = snapshot(q.failLive);
      const stateFile = join(q.dir, 'fail-state', 'state.json');
      expect(JSON.parse(readFileSync(stateFile, 'utf8')).verifiedCommit).toBe(good);

      // The issue's example: an unsigned commit is refused, then a signed empty commit lands on top.
      writeUser(work, 'acme', 'mallory');
      const unsigned = await commit('add mallory', false);
      r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`commit ${unsigned.slice(0, 12)} is refused: it is not signed`);
      await commit('signed, empty', true, ['--allow-empty']);

      // A partial sync, sync --full and a brand-new standby all refuse it, naming the unsigned commit.
      r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(unsigned.slice(0, 12));
      r = await cli(['sync', '--full', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`commit ${unsigned.slice(0, 12)} is refused: it is not signed`);
      expect(r.stderr).toContain(`since the trusted commit ${good.slice(0, 12)}`);
      expect(snapshot(q.failLive)).toEqual(served);
      expect(JSON.parse((await cli(['status', '-c', q.standby, '--json'])).stdout)).toMatchObject({
        appliedCommit: good,
        verifiedCommit: good,
      });

      const fresh = join(q.dir, 'fresh.yaml');
      writeFileSync(
        fresh,
        readFileSync(q.standby, 'utf8')
          .replace(join(q.dir, 'fail-state'), join(q.dir, 'fresh-state'))
          .replace(q.failLive, join(q.dir, 'fresh-live')),
      );
      mkdirSync(join(q.dir, 'fresh-live'));
      r = await cli(['sync', '-c', fresh]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`commit ${unsigned.slice(0, 12)} is refused: it is not signed`);
      expect(r.stderr).toContain("since the repo's first commit");
      expect(readdirSync(join(q.dir, 'fresh-live'))).toEqual([]);
      // git's own complaint about an unconfigured allowed signers file never reaches the operator.
      expect(r.stderr).not.toMatch(/allowedSignersFile|^error:/m);
    } finally {
      removeDir(q.dir);
    }
  }, 120_000);

  it('verifies from repo.verify.anchor when the history before it predates signing, and refuses a forged signature above it', async () => {
    const q = makePair();
    try {
      await initRemote(q);
      const { key, allowed, work, commit } = await adminSigner(q);
      writeDomain(work, 'acme', { users: ['alice'] });
      const old = await commit('from before signing', false);
      writeUser(work, 'acme', 'bob');
      await commit('add bob, signed', true);

      // Without an anchor the whole history must verify, and the refusal says how to anchor it.
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: allowed }));
      let r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`commit ${old.slice(0, 12)} is refused: it is not signed`);
      expect(r.stderr).toContain('set repo.verify.anchor');
      expect(readdirSync(q.failLive)).toEqual([]);

      // An abbreviated anchor is a configuration error; an id the branch does not have is refused.
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: allowed, anchor: old.slice(0, 12) }));
      r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/repo\.verify\.anchor.*full commit id/);
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: allowed, anchor: 'f'.repeat(40) }));
      r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(2); // a node-file error (README "Exit codes")
      expect(r.stderr).toContain(
        `repo.verify.anchor ${'f'.repeat(40)} (in ${q.standby}) is not a commit of the fetched branch main`,
      );

      // Anchored at the old commit: what is above it is signed, so it applies. The operator's own
      // git config asks for signatures in every log (log.showSignature): nothing of it shows.
      const home = join(q.dir, 'home');
      mkdirSync(home);
      writeFileSync(join(home, '.gitconfig'), '[log]\n\tshowSignature = true\n');
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: allowed, anchor: old }));
      r = await cli(['sync', '-c', q.standby], { env: { HOME: home } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(existsSync(join(q.failLive, 'domains/acme/users/bob.yaml'))).toBe(true);
      r = await cli(['log', '-c', q.standby, '--json'], { env: { HOME: home } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect((JSON.parse(r.stdout) as { subject: string }[]).map((e) => e.subject)).toEqual([
        'add bob, signed',
        'from before signing',
      ]);

      // Above the anchor, an unsigned commit is refused as always.
      writeUser(work, 'acme', 'mallory');
      const unsigned = await commit('add mallory', false);
      r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`commit ${unsigned.slice(0, 12)} is refused: it is not signed`);
      expect(existsSync(join(q.failLive, 'domains/acme/users/mallory.yaml'))).toBe(false);

      // A forgery: a signed commit whose tree was swapped after signing (same signature, other content).
      const applied = JSON.parse(readFileSync(join(q.dir, 'fail-state', 'state.json'), 'utf8')).appliedCommit as string;
      await git(['reset', '-q', '--hard', applied], work);
      await git(['push', '-q', '-f', 'origin', 'HEAD:main'], work);
      writeUser(work, 'acme', 'carol');
      await git(['add', '-A'], work);
      await git(
        ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`, 'commit', '-q', '-S', '-m', 'add carol'],
        work,
      );
      writeUser(work, 'acme', 'mallory');
      await git(['add', '-A'], work);
      const tree = (await git(['write-tree'], work)).trim();
      const raw = (await git(['cat-file', 'commit', 'HEAD'], work)).replace(/^tree [0-9a-f]+/, `tree ${tree}`);
      const forged = execFileSync('git', ['hash-object', '-t', 'commit', '-w', '--stdin'], {
        cwd: work,
        input: raw,
        encoding: 'utf8',
      }).trim();
      await git(['push', '-q', 'origin', `${forged}:refs/heads/main`], work);
      r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`commit ${forged.slice(0, 12)} is refused: it has a bad signature`);
      expect(existsSync(join(q.failLive, 'domains/acme/users/mallory.yaml'))).toBe(false);
    } finally {
      removeDir(q.dir);
    }
  }, 120_000);

  it('names the missing allowed signers file', async () => {
    const q = makePair();
    try {
      await initRemote(q);
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: 'no-such-file' }));
      writeDomain(q.prodLive, 'acme');
      expect((await cli(['record', '-c', q.primary])).code).toBe(0);
      const r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(2); // a node-file error
      expect(r.stderr).toMatch(/repo\.verify\.allowedSigners .*no-such-file.* does not exist/);
    } finally {
      removeDir(q.dir);
    }
  });
});

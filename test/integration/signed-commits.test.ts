import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, initRemote, makePair, removeDir, snapshot, writeDomain, writeUser } from '../helpers/fixture.js';
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
  await git([...(key ? ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${key}`] : []), 'commit', '-q', ...(key ? ['-S'] : ['--no-gpg-sign']), '-m', `add ${user}`], work);
  await git(['push', '-q', 'origin', 'HEAD:main'], work);
  return (await git(['rev-parse', 'HEAD'], work)).trim();
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
      d.triggers = [{ on: 'sync', if: 'success == false', exec: ['/bin/sh', '-c', 'printf "%s\\n" "$GITFAILOVER_ERROR" >> "$0"', events] }];
    });

    // 1. Two recorded (hence signed) commits: applied, the first by a full sync, the second by a partial one.
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }], users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    let r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    writeUser(p.prodLive, 'acme', 'bob');
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    r = await cli(['sync', '-c', p.standby]);
    expect(r.code, r.stderr).toBe(0);
    const signedHead = (await git(['rev-parse', 'main'], p.remote)).trim();
    const status = execFileSync('git', ['-c', 'gpg.format=ssh', '-c', `gpg.ssh.allowedSignersFile=${allowed}`, 'log', '--format=%G? %GS', 'main'], { cwd: p.remote, encoding: 'utf8' });
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
    expect(r.stderr).toMatch(/not in the allowed signers file/);
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

  it('names the missing allowed signers file', async () => {
    const q = makePair();
    try {
      await initRemote(q);
      editNodeFile(q.standby, (d) => (d.repo.verify = { allowedSigners: 'no-such-file' }));
      writeDomain(q.prodLive, 'acme');
      expect((await cli(['record', '-c', q.primary])).code).toBe(0);
      const r = await cli(['sync', '-c', q.standby]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/repo\.verify\.allowedSigners .*no-such-file.* does not exist/);
    } finally {
      removeDir(q.dir);
    }
  });
});

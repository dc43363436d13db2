import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliOk, git, usePairs, writeDomain, writeFile } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';
import { securedPair } from '../helpers/secrets.js';

// One of the secrets-*.test.ts files: recording, the age tool, refusals of what is not declared.
/**
 * Declared secrets end to end with the real CLI, real git remotes and the real `age` binary:
 * recorded as age ciphertext, never in clear in any object store, opened by the standbys that are
 * recipients and refused, with the live dir untouched, by those that are not.
 */
const pair = usePairs();
/** Each test runs the CLI a few dozen times: room for a loaded machine (no timing is asserted). */
const LONG = 300_000;

/** A host key as an MFT admin has it: a real OpenSSH private key (ssh-keygen). */
function hostKey(dir: string, name: string): string {
  const file = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  return readFileSync(file, 'utf8');
}

/** Every object of a git dir, contents included (`cat-file --batch-all-objects --batch`). */
function allObjects(gitDir: string): Buffer {
  return execFileSync('git', ['--git-dir', gitDir, 'cat-file', '--batch-all-objects', '--batch'], {
    maxBuffer: 256 * 1024 * 1024,
  });
}

/** The secret's body without its armour lines: what must never be found anywhere. */
function material(pem: string): string[] {
  return pem
    .split('\n')
    .filter((l) => l.length > 20 && !l.startsWith('-----'))
    .slice(0, 3);
}

describe.skipIf(!requireSystem(['age']).ok)('declared secrets', () => {
  it(
    'are recorded as age ciphertext only, opened 0600 on the standby, and never shown',
    async () => {
      const { p, prodRecipient, failRecipient } = await securedPair(pair);
      expect(prodRecipient).toMatch(/^age1[a-z0-9]{58}$/);
      expect(statSync(join(p.dir, 'fail.agekey')).mode & 0o777).toBe(0o600);
      // keygen keeps an existing identity: same recipient, no new key.
      expect((await cliOk(['keygen', '-c', p.standby])).stdout.trim()).toBe(failRecipient);

      writeDomain(p.prodLive, 'acme', { users: ['alice'] });
      const key = hostKey(p.dir, 'ssh_host_ed25519_key');
      writeFile(join(p.prodLive, 'keys/ssh_host_ed25519_key'), key);
      // Without a recipient in the repo, nothing is recorded (a secret readable by nobody is refused).
      const none = await cli(['record', '-c', p.primary]);
      expect(none.code).toBe(1);
      expect(none.stderr).toContain('keys/ssh_host_ed25519_key');
      expect(none.stderr).toMatch(/add-recipient/);

      await cliOk(['secrets', 'add-recipient', 'prod-1', prodRecipient, '-c', p.primary]);
      await cliOk(['secrets', 'add-recipient', 'failover-1', failRecipient, '-c', p.primary]);
      const rec = await cliOk(['record', '-c', p.primary]);
      expect(rec.stdout).toContain('recorded');
      const files = (await git(['ls-tree', '-r', '--name-only', 'main'], p.remote)).split('\n');
      expect(files).toContain('keys/ssh_host_ed25519_key.age');
      expect(files).not.toContain('keys/ssh_host_ed25519_key');
      const msg = await git(['log', '-1', '--format=%B', 'main'], p.remote);
      expect(msg).toContain('add secret keys/ssh_host_ed25519_key');
      expect(msg).toContain('Secret-Recipients: failover-1, prod-1');

      // An unchanged secret is no change (age output is randomized: the primary remembers its ciphertext).
      expect((await cliOk(['record', '-c', p.primary])).stdout).toContain('no change');

      const sync = await cliOk(['sync', '-c', p.standby]);
      expect(sync.stdout + sync.stderr).not.toContain(material(key)[0]!);
      const opened = join(p.failLive, 'keys/ssh_host_ed25519_key');
      expect(readFileSync(opened, 'utf8')).toBe(key);
      expect(statSync(opened).mode & 0o777).toBe(0o600);
      expect(existsSync(`${opened}.age`)).toBe(false);

      // Rotating the key on production is an ordinary record; every output says <secret changed>.
      const key2 = hostKey(join(p.dir), 'rotated_key');
      writeFileSync(join(p.prodLive, 'keys/ssh_host_ed25519_key'), key2);
      const rec2 = await cliOk(['record', '-c', p.primary]);
      expect(rec2.stdout).toContain('<secret changed>');
      const dry = await cliOk(['sync', '--dry-run', '-c', p.standby]);
      expect(dry.stdout).toContain('keys/ssh_host_ed25519_key: <secret changed>');
      for (const m of [...material(key), ...material(key2)]) expect(dry.stdout + dry.stderr).not.toContain(m);
      await cliOk(['sync', '-c', p.standby]);
      expect(readFileSync(opened, 'utf8')).toBe(key2);
      const log = await cliOk(['log', '--json', '-c', p.primary]);
      expect(log.stdout).toContain('<secret changed>');
      const list = await cliOk(['secrets', 'list', '--json', '-c', p.standby]);
      const listed = JSON.parse(list.stdout) as { files: { path: string }[]; recipients: { node: string }[] };
      expect(listed.files.map((f) => f.path)).toEqual(['keys/ssh_host_ed25519_key']);
      expect(listed.recipients.map((r) => r.node)).toEqual(['failover-1', 'prod-1']);

      // No plaintext in any object store: the primary's clone, the remote, the standby's clone.
      for (const gitDir of [join(p.dir, 'prod-state/repo.git'), p.remote, join(p.dir, 'fail-state/repo.git')]) {
        const objects = allObjects(gitDir).toString('latin1');
        expect(objects.length).toBeGreaterThan(0);
        for (const m of [...material(key), ...material(key2)]) expect(objects, gitDir).not.toContain(m);
        expect(objects).not.toContain('PRIVATE KEY');
      }
    },
    LONG,
  );

  it(
    'interoperate with the age tool both ways',
    async () => {
      const { p, prodRecipient, failRecipient } = await securedPair(pair);
      await cliOk(['secrets', 'add-recipient', 'prod-1', prodRecipient, '-c', p.primary]);
      await cliOk(['secrets', 'add-recipient', 'failover-1', failRecipient, '-c', p.primary]);
      writeDomain(p.prodLive, 'acme');
      writeFile(join(p.prodLive, 'tls/server-key.pem'), 'tls key material 0123456789abcdef\n');
      await cliOk(['record', '-c', p.primary]);
      // A .age file written by record decrypts with `age -d -i <identity>`.
      const blob = execFileSync('git', ['--git-dir', p.remote, 'cat-file', 'blob', 'main:tls/server-key.pem.age']);
      const viaAge = execFileSync('age', ['-d', '-i', join(p.dir, 'fail.agekey')], { input: blob }).toString();
      expect(viaAge).toBe('tls key material 0123456789abcdef\n');

      // A file encrypted by `age -r` and pushed by hand (a pull request) is opened by the standby.
      const work = join(p.dir, 'work');
      await git(['clone', '-q', p.remote, work]);
      const sealed = execFileSync('age', ['-r', failRecipient, '-r', prodRecipient], { input: 'from the age tool\n' });
      writeFileSync(join(work, 'domains/acme/partner.key.age'), sealed);
      await git(['add', '-A'], work);
      await git(['commit', '-qm', 'partner key via age -r'], work);
      await git(['push', '-q', 'origin', 'HEAD:main'], work);
      await cliOk(['sync', '-c', p.standby]);
      const file = join(p.failLive, 'domains/acme/partner.key');
      expect(readFileSync(file, 'utf8')).toBe('from the age tool\n');
      expect(statSync(file).mode & 0o777).toBe(0o600);

      // The primary takes the pushed commit in too (it opens the secret with its own identity).
      await cliOk(['sync', '-c', p.primary]);
      expect(readFileSync(join(p.prodLive, 'domains/acme/partner.key'), 'utf8')).toBe('from the age tool\n');
      // revert cannot write a secret back (the repo has only its ciphertext): refused, nothing changed.
      const sealedCommit = (await git(['rev-parse', 'main'], p.remote)).trim();
      const rv = await cli(['revert', sealedCommit, '-c', p.primary]);
      expect(rv.code).toBe(1);
      expect(rv.stderr).toContain('domains/acme/partner.key');
      expect((await git(['rev-parse', 'main'], p.remote)).trim()).toBe(sealedCommit);
    },
    LONG,
  );

  it(
    'a private key outside the declared secrets is still refused, and the refusal says how to declare it',
    async () => {
      const p = await pair();
      writeDomain(p.prodLive, 'acme');
      writeFile(
        join(p.prodLive, 'domains/acme/id_rsa'),
        '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n',
      );
      const r = await cli(['record', '-c', p.primary]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('domains/acme/id_rsa');
      expect(r.stderr).toContain('secrets.files');
    },
    LONG,
  );
});

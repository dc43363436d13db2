import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeChange } from '../../../src/model/describe.js';
import {
  decryptWith,
  DecryptError,
  encryptTo,
  formatIdentityFile,
  isRecipient,
  newIdentity,
  parseIdentityFile,
  recipientOf,
} from '../../../src/secrets/age.js';
import { markSecret, writeNewFile } from '../../../src/secrets/marks.js';
import { isSecretPath, plainPathOf } from '../../../src/model/secret-paths.js';
import { parseRecipientFile, formatRecipientFile } from '../../../src/secrets/recipients.js';

const dir = mkdtempSync(join(tmpdir(), 'gf-age-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('age', () => {
  it('encrypts to several recipients; each identity opens it, another does not', async () => {
    const a = await newIdentity();
    const b = await newIdentity();
    const c = await newIdentity();
    const sealed = await encryptTo(Buffer.from('host key\n'), [a.recipient, b.recipient]);
    expect(sealed.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
    expect((await decryptWith(sealed, [a.identity])).toString()).toBe('host key\n');
    expect((await decryptWith(sealed, [b.identity])).toString()).toBe('host key\n');
    const err = await decryptWith(sealed, [c.identity]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DecryptError);
    expect((err as DecryptError).reason).toBe('not-a-recipient');
  });

  it('refuses what is not an age file, and tells recipients from anything else', async () => {
    const a = await newIdentity();
    const err = await decryptWith(Buffer.from('-----BEGIN AGE ENCRYPTED FILE-----\n'), [a.identity]).catch(
      (e: unknown) => e,
    );
    expect((err as DecryptError).reason).toBe('malformed');
    expect(await isRecipient(a.recipient)).toBe(true);
    expect(await isRecipient(a.recipient.slice(0, -1) + (a.recipient.endsWith('q') ? 'p' : 'q'))).toBe(false); // checksum
    expect(await isRecipient('ssh-ed25519 AAAA')).toBe(false);
  });

  it('reads and writes the identity and recipient files as age-keygen does', async () => {
    const a = await newIdentity();
    const text = formatIdentityFile(a.identity, a.recipient);
    expect(text).toContain(`# public key: ${a.recipient}`);
    expect(parseIdentityFile(text)).toEqual([a.identity]);
    expect(await recipientOf(a.identity)).toBe(a.recipient);
    expect(parseRecipientFile(formatRecipientFile('failover-1', a.recipient))).toBe(a.recipient);
    expect(parseRecipientFile('# nothing here\n')).toBeUndefined();
  });
});

describe('secret paths and marks', () => {
  it('x.age is the ciphertext of x', () => {
    expect(isSecretPath('keys/host.key.age')).toBe(true);
    expect(isSecretPath('keys/.age')).toBe(false);
    expect(isSecretPath('keys/host.key')).toBe(false);
    expect(plainPathOf('keys/host.key.age')).toBe('keys/host.key');
  });

  it('a marked secret is written 0600 from creation; other files as before', () => {
    const secret = join(dir, 'secret');
    writeNewFile(secret, markSecret(Buffer.from('s'), { mode: 0o600 }));
    expect(statSync(secret).mode & 0o777).toBe(0o600);
    const plain = join(dir, 'plain');
    writeNewFile(plain, Buffer.from('p'));
    expect(statSync(plain).mode & 0o077).not.toBe(0);
  });

  it('the change list names a secret and never shows it', () => {
    expect(describeChange({ kind: 'file.changed', path: 'keys/host.key.age' } as never)).toBe(
      'keys/host.key <secret changed>',
    );
    expect(describeChange({ kind: 'file.added', path: 'domains/acme/tls/key.pem.age', domain: 'acme' } as never)).toBe(
      'acme: add secret tls/key.pem',
    );
  });
});

describe('maskSecretFields', () => {
  it('masks the values of secret-looking fields in a diff, nothing else', async () => {
    const { maskSecretFields } = await import('../../../src/secrets/mask.js');
    const patch = [
      '--- a/u.yaml',
      '+++ b/u.yaml',
      '@@ -1,3 +1,3 @@',
      ' name: alice',
      '-passwordHash: $6$old',
      '+passwordHash: "$6$new"',
      '+  - api_token = abc',
      ' passwordPolicy: strict',
    ].join('\n');
    expect(maskSecretFields(patch).split('\n')).toEqual([
      '--- a/u.yaml',
      '+++ b/u.yaml',
      '@@ -1,3 +1,3 @@',
      ' name: alice',
      '-passwordHash: ***',
      '+passwordHash: ***',
      '+  - api_token = ***',
      ' passwordPolicy: ***',
    ]);
  });
});

describe('renderFile and ciphertext', () => {
  it('never renders an x.age file (a {{ or an address in ciphertext is chance)', async () => {
    const { renderFile, renderOptionsFor } = await import('../../../src/render/render-file.js');
    const opts = renderOptionsFor({ ips: { '10.0.0.5': '10.1.0.5' }, files: ['**'], vars: {} });
    const sealed = Buffer.from('age-encryption.org/v1\n-> X25519 abc\n{{ nope }} 10.0.0.5\n');
    expect(renderFile('keys/host.key.age', sealed, opts)).toBe(sealed);
    expect(renderFile('keys/host.conf', Buffer.from('10.0.0.5\n'), opts).toString()).toBe('10.1.0.5\n');
  });
});

export { isSecretPath, plainPathOf, SECRET_SUFFIX } from '../model/secret-paths.js';

/** Loaded on first use: most commands (and most syncs, without a secret) never need it. */
const lib = () => import('age-encryption');

/**
 * The age file format (age-encryption.org/v1), through the `age-encryption` package, which reads
 * and writes what the `age` command-line tool does. X25519 only: `age` 1.1 (Debian's) knows no
 * post-quantum recipients, and every node must be able to read every secret.
 */

/** The first line of every age file, for telling a ciphertext from anything else. */
export const AGE_HEADER = 'age-encryption.org/v1\n';

export async function encryptTo(plaintext: Uint8Array, recipients: readonly string[]): Promise<Buffer> {
  if (recipients.length === 0) throw new Error('no recipients');
  const e = new (await lib()).Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return Buffer.from(await e.encrypt(plaintext));
}

/** Why a ciphertext could not be opened, in words for a refusal. */
export class DecryptError extends Error {
  constructor(
    readonly reason: 'not-a-recipient' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

export async function decryptWith(ciphertext: Uint8Array, identities: readonly string[]): Promise<Buffer> {
  if (Buffer.from(ciphertext.subarray(0, AGE_HEADER.length)).toString('latin1') !== AGE_HEADER) {
    throw new DecryptError(
      'malformed',
      'it is not an age file (no "age-encryption.org/v1" header; armored files are not supported)',
    );
  }
  const d = new (await lib()).Decrypter();
  for (const id of identities) d.addIdentity(id);
  try {
    return Buffer.from(await d.decrypt(ciphertext));
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/no identity matched/i.test(msg))
      throw new DecryptError('not-a-recipient', "it is not encrypted to this node's identity");
    throw new DecryptError('malformed', `it cannot be decrypted (${msg})`);
  }
}

export async function newIdentity(): Promise<{ identity: string; recipient: string }> {
  const { generateX25519Identity, identityToRecipient } = await lib();
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}

export async function recipientOf(identity: string): Promise<string> {
  return (await lib()).identityToRecipient(identity);
}

/** Looks like an `age1…` X25519 recipient (bech32 alphabet, length): what a recipients file holds. */
export function looksLikeRecipient(text: string): boolean {
  return /^age1[02-9ac-hj-np-z]{58}$/.test(text);
}

/** An `age1…` X25519 recipient the encrypter accepts (checksum included). */
export async function isRecipient(text: string): Promise<boolean> {
  if (!looksLikeRecipient(text)) return false;
  const { Encrypter } = await lib();
  try {
    new Encrypter().addRecipient(text);
    return true;
  } catch {
    return false;
  }
}

/** The `AGE-SECRET-KEY-1…` lines of an identity file (age-keygen's format: `#` comments allowed). */
export function parseIdentityFile(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-1'));
}

/** The identity file as age-keygen writes it, so `age -d -i FILE` reads it too. */
export function formatIdentityFile(identity: string, recipient: string, created = new Date()): string {
  return `# created: ${created.toISOString()}\n# public key: ${recipient}\n${identity}\n`;
}

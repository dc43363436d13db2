import { chmodSync, chownSync, writeFileSync } from 'node:fs';
/**
 * Decrypted secret contents, marked by their Buffer (as check-work marks blob ids): a loader
 * writes a marked Buffer with the secret's mode and owner from the first byte on, and the dry-run
 * and every diff shown say `<secret changed>` instead of showing it. A WeakMap, so a mark lives
 * exactly as long as the plaintext it marks.
 */
export interface SecretMark {
  mode: number;
  uid?: number;
  gid?: number;
}

const marks = new WeakMap<Buffer, SecretMark>();

export function markSecret(content: Buffer, mark: SecretMark): Buffer {
  marks.set(content, mark);
  return content;
}

export function secretMarkOf(content: Buffer): SecretMark | undefined {
  return marks.get(content);
}

/** What every output shows for a secret's content. */
export const SECRET_CHANGED = '<secret changed>';

/**
 * Write `content` to a new file `path`: a secret with its mode (and owner) from creation on, so its
 * plaintext is never readable by others, not even for a moment; anything else as before.
 */
export function writeNewFile(path: string, content: Buffer): void {
  const m = marks.get(content);
  if (!m) {
    writeFileSync(path, content);
    return;
  }
  writeFileSync(path, content, { mode: m.mode });
  chmodSync(path, m.mode); // an existing file keeps its mode through writeFileSync
  if (m.uid !== undefined || m.gid !== undefined) chownSync(path, m.uid ?? -1, m.gid ?? -1);
}

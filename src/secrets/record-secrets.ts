import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import type { GitIndex, IndexEntry } from '../repo/git-index.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { decryptWith, encryptTo, isSecretPath, plainPathOf, SECRET_SUFFIX } from './age.js';
import { loadIdentities } from './identity.js';
import { readRecipients, type RecipientEntry } from './recipients.js';

/**
 * The primary's side of declared secrets. The plaintext of a secret never reaches git: `git add`
 * is told to leave it alone (secretAddExcludes), and recordSecrets encrypts it in memory and puts
 * only the ciphertext in the object store and the index, as `<path>.age`.
 */

/**
 * Pathspecs for the record's `git add`: the declared secrets, everything once recorded as a secret
 * (its `.age` is in the index: a file stays a secret even when the globs change), and `*.age` names,
 * which in the repo are ciphertext that recordSecrets alone writes (and that every node opens).
 */
export async function secretAddExcludes(
  index: GitIndex,
  cfg: NodeConfig,
  known?: Map<string, string>,
): Promise<string[]> {
  known ??= await indexedCiphertexts(index);
  // `*.age` always: a ciphertext recorded verbatim would be taken for a secret by every node,
  // and the next record (finding no plaintext for it) would take it out again.
  return [
    ':(top,exclude,glob)**/*.age',
    ...cfg.secrets.files.map((g) => `:(top,exclude,glob)${g}`),
    ...[...known.keys()].map((p) => `:(top,exclude,literal)${plainPathOf(p)}`),
  ];
}

export interface RecordedSecrets {
  /** Plaintext paths whose ciphertext this record wrote (added or changed). */
  encrypted: string[];
  /** Plaintext paths whose ciphertext this record took out (the file left the live dir). */
  removed: string[];
  warnings: string[];
  /** `Secret-Recipients: a, b`, for the commit message when anything was encrypted. */
  trailer?: string;
}

export interface CacheFile {
  version: 1;
  /** plaintext path -> the plaintext's sha256 and the blob of the ciphertext recorded for it */
  files: Record<string, { sha256: string; oid: string }>;
}

/**
 * Brings the index's `<path>.age` entries in line with the live dir's secrets. age output is
 * randomized, so an unchanged secret must keep its old ciphertext (else every record would be a
 * commit): `stateDir/secrets.json` remembers plaintext hash -> ciphertext blob.
 */
export async function recordSecrets(
  repo: NodeRepo,
  index: GitIndex,
  cfg: NodeConfig,
  base: string | undefined,
  indexed?: Map<string, string>,
): Promise<RecordedSecrets> {
  const out: RecordedSecrets = { encrypted: [], removed: [], warnings: [] };
  indexed ??= await indexedCiphertexts(index);
  if (cfg.secrets.files.length === 0 && indexed.size === 0) return out;
  const globs = cfg.secrets.files.map((g) => `:(top,glob)${g}`);

  // A file recorded in clear before it was declared a secret: out of the index now (its history keeps it).
  if (globs.length > 0) {
    const clear = (await index.paths(globs)).filter((p) => !isSecretPath(p));
    if (clear.length > 0) {
      await index.removeCached(clear);
      for (const p of clear)
        out.warnings.push(
          `${p} is now a secret: recorded encrypted from this commit on, but earlier commits hold it in clear; replace the key (rotate it)`,
        );
    }
  }

  const known = [...indexed.keys()].map((p) => `:(top,literal)${plainPathOf(p)}`);
  const listed = await index.untracked(cfg.live.dir, [...globs, ...known]);
  const live: string[] = [];
  for (const p of new Set(listed)) {
    if (isSecretPath(p)) continue;
    const st = lstatSync(join(cfg.live.dir, p));
    if (!st.isFile()) {
      out.warnings.push(`${p} matches secrets.files but is not a regular file (a symbolic link?): not recorded`);
      continue;
    }
    if (st.size > cfg.live.maxFileSize) {
      out.warnings.push(`${p} is ${st.size} bytes, over live.maxFileSize (${cfg.live.maxFileSize}): not recorded`);
      continue;
    }
    live.push(p);
  }
  live.sort();

  const cache = loadCache(cfg.repo.stateDir);
  let recipients: RecipientEntry[] | undefined;
  let identities: string[] | null | undefined;
  const toEncrypt: { path: string; plain: Buffer; sha256: string }[] = [];
  for (const p of live) {
    const plain = readFileSync(join(cfg.live.dir, p));
    const sha256 = createHash('sha256').update(plain).digest('hex');
    const current = indexed.get(p + SECRET_SUFFIX);
    const remembered = cache.files[p];
    if (current && remembered?.oid === current && remembered.sha256 === sha256) continue;
    if (current) {
      // No (or an outdated) memory of this ciphertext, e.g. on a freshly promoted node: when this
      // node can read it and it holds the same plaintext, it stays as it is.
      identities ??= tryIdentities(cfg);
      const blob = identities ? await repo.blobs.readBlob(current) : undefined;
      const same =
        blob && identities
          ? await decryptWith(blob, identities).then(
              (b) => b.equals(plain),
              () => false,
            )
          : false;
      if (same) {
        cache.files[p] = { sha256, oid: current };
        continue;
      }
    }
    toEncrypt.push({ path: p, plain, sha256 });
  }

  const entries: IndexEntry[] = [];
  if (toEncrypt.length > 0) {
    recipients = await readRecipients(repo, base);
    if (recipients.length === 0) {
      throw new GitfailoverError(
        'E_SECRET_NO_RECIPIENTS',
        `${toEncrypt[0]!.path} is a declared secret (secrets.files in ${cfg.file}) but the repo names no recipient to encrypt it to: nothing was recorded. On each node run "gitfailover keygen -c <node file>", then here "gitfailover secrets add-recipient <node> <age1…>" for each, and record again`,
        { kind: 'stalling', location: { file: toEncrypt[0]!.path } },
      );
    }
    const keys = recipients.map((r) => r.recipient);
    const ciphertexts = await Promise.all(toEncrypt.map((s) => encryptTo(s.plain, keys)));
    const oids = await writeBlobs(repo, cfg.repo.stateDir, ciphertexts);
    toEncrypt.forEach((s, i) => {
      cache.files[s.path] = { sha256: s.sha256, oid: oids[i]! };
      entries.push({ mode: '100644', oid: oids[i]!, path: `${s.path}${SECRET_SUFFIX}` });
      out.encrypted.push(s.path);
    });
    out.trailer = `Secret-Recipients: ${recipients.map((r) => r.node).join(', ')}`;
  }
  const liveSet = new Set(live);
  for (const ageP of indexed.keys()) {
    const p = plainPathOf(ageP);
    if (liveSet.has(p)) continue;
    entries.push({ remove: true, path: ageP });
    out.removed.push(p);
    delete cache.files[p];
  }
  await index.update(entries);
  saveCache(cfg.repo.stateDir, cache);
  return out;
}

/**
 * The `.age` entries of the private index: path -> blob. The record's `git add` leaves every
 * `.age` path alone, so one listing before it serves recordSecrets after it too.
 */
export async function indexedCiphertexts(index: GitIndex): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await index.stagedEndingWith('.age')) if (isSecretPath(e.path)) out.set(e.path, e.oid);
  return out;
}

/**
 * Ciphertexts into the object store with one git process: written to a folder of the state dir
 * (ciphertext only) and hashed with --stdin-paths, rather than a process per secret.
 */
export async function writeBlobs(repo: NodeRepo, stateDir: string, contents: Buffer[]): Promise<string[]> {
  const dir = join(stateDir, 'secrets-tmp');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const paths = contents.map((c, i) => {
      const p = join(dir, `${i}.age`);
      writeFileSync(p, c, { mode: 0o600 });
      return p;
    });
    return await repo.hashFiles(paths, { write: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function tryIdentities(cfg: NodeConfig): string[] | null {
  try {
    return cfg.secrets.identity ? loadIdentities(cfg) : null;
  } catch {
    return null;
  }
}

const CACHE = 'secrets.json';

export function loadCache(stateDir: string): CacheFile {
  const file = join(stateDir, CACHE);
  if (!existsSync(file)) return { version: 1, files: {} };
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as CacheFile;
    return c.version === 1 && c.files ? c : { version: 1, files: {} };
  } catch {
    return { version: 1, files: {} }; // lost memory only costs a re-encryption (or a decryption)
  }
}

export function saveCache(stateDir: string, cache: CacheFile): void {
  const file = join(stateDir, CACHE);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cache)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

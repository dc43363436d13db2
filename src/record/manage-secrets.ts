import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError, errorMessage } from '../errors.js';
import { prepareClone } from './prepare-clone.js';
import { parseActor } from '../repo/actor.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { writeCommit } from './commit.js';
import {
  decryptWith,
  encryptTo,
  formatIdentityFile,
  isRecipient,
  newIdentity,
  parseIdentityFile,
  recipientOf,
} from '../secrets/age.js';
import { identityPath, loadIdentities } from '../secrets/identity.js';
import { isSecretPath, plainPathOf } from '../model/secret-paths.js';
import { formatRecipientFile, readRecipients, RECIPIENTS_DIR, type RecipientEntry } from '../secrets/recipients.js';
import { loadCache, saveCache, writeBlobs } from '../secrets/record-secrets.js';

/** `gitfailover keygen`: this node's identity at secrets.identity (0600); an existing one is kept, never replaced. */
export async function keygen(cfg: NodeConfig): Promise<{ path: string; recipient: string; created: boolean }> {
  const path = identityPath(cfg);
  if (!path) {
    throw new ConfigError(
      `${cfg.file}: secrets.identity is not set: add "secrets: { identity: file:/etc/gitfailover/age.key }" to the node file, then run keygen again`,
      { file: cfg.file, field: 'secrets.identity' },
    );
  }
  if (existsSync(path)) {
    const ids = parseIdentityFile(readFileSync(path, 'utf8'));
    if (ids.length === 0)
      throw new GitfailoverError(
        'E_SECRET_IDENTITY',
        `${path} exists but holds no AGE-SECRET-KEY-1… line: move it aside and run keygen again`,
        { kind: 'stalling', location: { file: path } },
      );
    return { path, recipient: await recipientOf(ids[0]!), created: false };
  }
  const { identity, recipient } = await newIdentity();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, formatIdentityFile(identity, recipient), { mode: 0o600, flag: 'wx' }); // wx: never over a key that appeared meanwhile
  return { path, recipient, created: true };
}

export interface MetaCommitResult {
  commit?: string;
  subject?: string;
  pushed: boolean;
  pushError?: GitfailoverError;
}

/** `secrets add-recipient` / `remove-recipient`: one commit of `.gitfailover/recipients/<node>` on the primary, pushed. */
export async function setRecipient(
  cfg: NodeConfig,
  node: string,
  recipient: string | undefined,
  opts: { actor?: string } = {},
): Promise<MetaCommitResult> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(node))
    throw new ConfigError(
      `node name ${JSON.stringify(node)} is not a valid node name (letters, digits, ".", "_", "-")`,
    );
  if (recipient !== undefined && !(await isRecipient(recipient))) {
    throw new ConfigError(
      `${JSON.stringify(recipient)} is not an age X25519 recipient (age1… as printed by "gitfailover keygen" or age-keygen -y)`,
    );
  }
  return onPrimary(
    cfg,
    async (repo, local) => {
      const path = `${RECIPIENTS_DIR}/${node}`;
      const before = (await readRecipients(repo, local)).find((r) => r.node === node);
      if (recipient === undefined && !before)
        throw new GitfailoverError(
          'E_NO_RECIPIENT',
          `the repo names no recipient for node ${node} (${path}): nothing to remove ("gitfailover secrets list" shows them)`,
          { kind: 'stalling' },
        );
      if (recipient !== undefined && before?.recipient === recipient) return undefined;
      const subject =
        recipient === undefined
          ? `remove secrets recipient ${node}`
          : `${before ? 'replace' : 'add'} secrets recipient ${node}`;
      const body = [
        recipient === undefined
          ? `Node ${node} is no longer a recipient of the secrets.`
          : `Recipient of ${node}: ${recipient}`,
        'Secrets already in the repo keep their recipients until "gitfailover secrets rekey".',
      ].join('\n');
      const oid = recipient === undefined ? undefined : await hashText(repo, formatRecipientFile(node, recipient));
      return { subject, body, entries: [{ path, oid }] };
    },
    opts,
  );
}

/** `secrets rekey`: every secret of the head encrypted again to the recipients the repo names now, in one commit. */
export async function rekey(
  cfg: NodeConfig,
  opts: { actor?: string } = {},
): Promise<MetaCommitResult & { files: string[]; added: string[]; removed: string[] }> {
  const info = { files: [] as string[], added: [] as string[], removed: [] as string[] };
  const r = await onPrimary(
    cfg,
    async (repo, local) => {
      if (!local) return undefined;
      const recipients = await readRecipients(repo, local);
      const secrets = (await repo.lsTree(local)).filter((e) => e.type === 'blob' && isSecretPath(e.path));
      if (secrets.length === 0) return undefined;
      if (recipients.length === 0) {
        throw new GitfailoverError(
          'E_SECRET_NO_RECIPIENTS',
          `the repo names no recipient (${RECIPIENTS_DIR}/): the secrets would be readable by nobody. Add one with "gitfailover secrets add-recipient <node> <age1…>", then rekey`,
          { kind: 'stalling' },
        );
      }
      const identities = loadIdentities(cfg);
      const plains: Buffer[] = [];
      for (const e of secrets) {
        const blob = await repo.blobs.readBlob(e.oid);
        try {
          plains.push(await decryptWith(blob ?? Buffer.alloc(0), identities));
        } catch (err) {
          throw new GitfailoverError(
            'E_SECRET_REKEY',
            `${e.path} cannot be decrypted by ${cfg.node}: ${errorMessage(err)}. Rekey decrypts every secret with this node's identity, so this node must be one of their recipients; nothing was changed`,
            { kind: 'stalling', location: { file: e.path } },
          );
        }
      }
      const keys = recipients.map((x) => x.recipient);
      const oids = await writeBlobs(repo, cfg.repo.stateDir, await Promise.all(plains.map((p) => encryptTo(p, keys))));
      const previous = await lastRecipients(repo, local);
      const now = recipients.map((x) => x.node);
      info.files = secrets.map((e) => plainPathOf(e.path));
      info.added = previous ? now.filter((n) => !previous.includes(n)) : now;
      info.removed = previous ? previous.filter((n) => !now.includes(n)) : [];
      // So that the next record knows these ciphertexts hold what the live dir has, and keeps them.
      const cache = loadCache(cfg.repo.stateDir);
      secrets.forEach(
        (e, i) =>
          (cache.files[plainPathOf(e.path)] = {
            sha256: createHash('sha256').update(plains[i]!).digest('hex'),
            oid: oids[i]!,
          }),
      );
      saveCache(cfg.repo.stateDir, cache);
      const changed = [
        info.added.length > 0 ? `+${info.added.join(', +')}` : '',
        info.removed.length > 0 ? `-${info.removed.join(', -')}` : '',
      ]
        .filter(Boolean)
        .join(' ');
      return {
        subject: `rekey ${secrets.length} secret${secrets.length === 1 ? '' : 's'}${changed ? ` (recipients ${changed})` : ''}`,
        body: [
          `Recipients now: ${now.join(', ')}`,
          previous
            ? `Recipients added: ${info.added.join(', ') || 'none'}\nRecipients removed: ${info.removed.join(', ') || 'none'}`
            : 'No earlier Secret-Recipients trailer: the recipients before are unknown.',
          ['Secrets re-encrypted:', ...info.files.map((f) => `- ${f}`)].join('\n'),
        ].join('\n\n'),
        trailers: [`Secret-Recipients: ${now.join(', ')}`],
        entries: secrets.map((e, i) => ({ path: e.path, oid: oids[i] })),
      };
    },
    opts,
  );
  return { ...r, ...info };
}

/** The recipients named by the newest commit that encrypted anything (its Secret-Recipients trailer). */
async function lastRecipients(repo: NodeRepo, rev: string): Promise<string[] | undefined> {
  return repo.lastTrailer(rev, 'Secret-Recipients');
}

interface MetaChange {
  subject: string;
  body: string;
  trailers?: string[];
  /** oid undefined: remove the path */
  entries: { path: string; oid?: string }[];
}

/** Under the record lock, on a clone prepared as record does: build one commit of `change` on the head, and push it. */
async function onPrimary(
  cfg: NodeConfig,
  make: (repo: NodeRepo, local: string | undefined) => Promise<MetaChange | undefined>,
  opts: { actor?: string },
): Promise<MetaCommitResult> {
  const repo = new NodeRepo(cfg.repo);
  try {
    return await withLock(cfg.repo.stateDir, 'record', async () => {
      const { local, offline } = await prepareClone(cfg, repo);
      const change = await make(repo, local);
      if (!change) return { pushed: false };
      const index = repo.index(join(cfg.repo.stateDir, 'secrets.index'));
      let commit: string;
      try {
        await index.readTree(local);
        await index.update(
          change.entries.map((e) =>
            e.oid ? { mode: '100644', oid: e.oid, path: e.path } : { remove: true, path: e.path },
          ),
        );
        const actor = parseActor(opts.actor);
        const msg = `${[
          change.subject,
          change.body,
          [...(change.trailers ?? []), `Changed-By: ${actor.name}`, `Node: ${cfg.node}`].join('\n'),
        ].join('\n\n')}\n`;
        commit = await writeCommit(repo, cfg, await index.writeTree(), local ? [local] : [], msg, actor);
      } finally {
        rmSync(index.file, { force: true });
      }
      await repo.updateRef(repo.branchRef, commit, local ?? '');
      if (offline) return { commit, subject: change.subject, pushed: false, pushError: offline };
      try {
        return { commit, subject: change.subject, pushed: (await repo.push(cfg.sync.timeout, commit)).pushed };
      } catch (err) {
        const e =
          err instanceof GitfailoverError
            ? err
            : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting' });
        return { commit, subject: change.subject, pushed: false, pushError: e };
      }
    });
  } finally {
    repo.close();
  }
}

function hashText(repo: NodeRepo, text: string): Promise<string> {
  return repo.hashObject(text);
}

export interface SecretsListing {
  commit?: string;
  recipients: RecipientEntry[];
  files: { path: string; commit: string; time: string; author: string }[];
}

/** `secrets list`: the secrets of the node's newest commit (no content), their last change, and the recipients. */
export async function listSecrets(cfg: NodeConfig): Promise<SecretsListing & { fetchError?: string }> {
  const repo = new NodeRepo(cfg.repo);
  try {
    await repo.ensure();
    let fetchError: string | undefined;
    await repo.fetch(cfg.sync.timeout).catch((err) => (fetchError = errorMessage(err)));
    const commit = (await repo.resolve(repo.branchRef)) ?? (await repo.resolve(repo.trackingRef));
    if (!commit) return { recipients: [], files: [], fetchError };
    const files: SecretsListing['files'] = [];
    for (const e of (await repo.lsTree(commit)).filter((x) => x.type === 'blob' && isSecretPath(x.path))) {
      const c = (await repo.log(commit, [e.path], 1))[0];
      files.push({ path: plainPathOf(e.path), commit: c?.commit ?? '', time: c?.time ?? '', author: c?.author ?? '' });
    }
    return { commit, recipients: await readRecipients(repo, commit), files, fetchError };
  } finally {
    repo.close();
  }
}

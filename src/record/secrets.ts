import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import { EMPTY_TREE } from '../repo/git.js';
import type { NodeRepo } from '../repo/node-repo.js';

/**
 * A config repo is read by every node and often by a CI service: a secret committed there is
 * leaked for good (history keeps it). `record` therefore refuses to commit a file holding a
 * private key or the value of one of this node's own secrets, and names the file and the field.
 */

/** PEM and OpenSSH private keys: `-----BEGIN RSA PRIVATE KEY-----`, `-----BEGIN OPENSSH PRIVATE KEY-----`, ... */
const PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

/** Shorter values would match ordinary text by chance (a password "admin" in a comment). */
export const MIN_SECRET_LENGTH = 8;

/** The node file's resolved secrets, by the field that holds them (never their values in messages). */
export function nodeSecrets(cfg: NodeConfig): { field: string; value: string }[] {
  const out: { field: string; value: string }[] = [];
  const add = (field: string, value: string | undefined) => {
    if (value && value.length >= MIN_SECRET_LENGTH) out.push({ field, value });
  };
  add('repo.auth.password', cfg.repo.auth?.password);
  add('notify.secret', cfg.notify.secret);
  cfg.triggers.forEach((t, i) => {
    add(`triggers[${i}].email.smtp.pass`, t.email?.smtp.pass);
    add(`triggers[${i}].webhook.secret`, t.webhook?.secret);
  });
  return out;
}

/** What in `content` must never be committed, described without the secret itself; undefined when clean. */
export function secretIn(content: Buffer, secrets: readonly { field: string; value: string }[]): string | undefined {
  const text = content.toString('latin1'); // byte-exact: a secret is searched as the bytes of its UTF-8 form
  if (PRIVATE_KEY.test(text)) return 'a private key block (-----BEGIN ... PRIVATE KEY-----)';
  for (const s of secrets) if (text.includes(Buffer.from(s.value, 'utf8').toString('latin1'))) return `the value of ${s.field} (a secret of the node file)`;
  return undefined;
}

/**
 * Refuses the record when a file added or changed in the private index (against `base`) holds a
 * secret. The offending paths are taken out of the index, so the next record starts clean.
 */
export async function refuseSecrets(repo: NodeRepo, cfg: NodeConfig, changed: readonly { path: string; oid: string }[], env: NodeJS.ProcessEnv): Promise<void> {
  if (changed.length === 0) return;
  const secrets = nodeSecrets(cfg);
  const found: { path: string; what: string }[] = [];
  for (const c of changed) {
    const content = await repo.blobs.readBlob(c.oid);
    const what = content && secretIn(content, secrets);
    if (what) found.push({ path: c.path, what });
  }
  if (found.length === 0) return;
  await repo.git(['rm', '--cached', '--quiet', '--pathspec-from-file=-', '--pathspec-file-nul'], { env: { ...env, GIT_LITERAL_PATHSPECS: '1' }, input: found.map((f) => f.path).join('\0') });
  const first = found[0]!;
  const more = found.length > 1 ? ` (and ${found.length - 1} more file${found.length > 2 ? 's' : ''}: ${found.slice(1).map((f) => f.path).join(', ')})` : '';
  throw new GitfailoverError(
    'E_SECRET_IN_FILE',
    `${first.path} in the live dir ${cfg.live.dir} holds ${first.what}${more}: nothing was recorded, since a secret committed to the config repo stays in its history. Declare the file a secret (add it to secrets.files in ${cfg.file}: it is then recorded encrypted with age to the repo's recipients), or move the secret out of the live dir (or add the file to live.exclude), then record again`,
    { kind: 'stalling', location: { file: first.path }, data: { files: found } },
  );
}

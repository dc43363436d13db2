import type { NodeConfig } from '../config/load.js';
import { PRIVATE_KEY } from '../model/admit.js';

/**
 * A config repo is read by every node and often by a CI service: a secret committed there is
 * leaked for good (history keeps it). `record` therefore refuses to commit a file holding a
 * private key (admit.ts's rule, every gate) or the value of one of this node's own secrets (only
 * this node knows them), and names the file and the field (admit-live.ts).
 */

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
  for (const s of secrets)
    if (text.includes(Buffer.from(s.value, 'utf8').toString('latin1')))
      return `the value of ${s.field} (a secret of the node file)`;
  return undefined;
}

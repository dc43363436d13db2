import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { CommitTreeInput, Identity } from './commit-tree.js';

/**
 * A commit object as `git commit-tree` writes it, without the process: header lines, the
 * author and committer as `Name <email> <seconds> <+hhmm>` in this machine's zone, a blank line,
 * the message verbatim. Undefined when git might write it differently (a signature, a given
 * date, an identity git would trim or refuse, a SHA-256 clone): the caller runs commit-tree.
 */
export function formatCommit(c: CommitTreeInput, committer: Identity, now: Date = new Date()): Buffer | undefined {
  if (c.signingKey || c.author.date) return undefined;
  if (![c.tree, ...c.parents].every((id) => /^[0-9a-f]{40}$/.test(id))) return undefined;
  if (![c.author.name, c.author.email, committer.name, committer.email].every(plainIdent)) return undefined;
  const when = `${Math.floor(now.getTime() / 1000)} ${zone(now)}`;
  const header = [
    `tree ${c.tree}`,
    ...c.parents.map((p) => `parent ${p}`),
    `author ${c.author.name} <${c.author.email}> ${when}`,
    `committer ${committer.name} <${committer.email}> ${when}`,
  ];
  return Buffer.from(`${header.join('\n')}\n\n${c.message}`, 'utf8');
}

/**
 * Store `body` as a loose commit object in `gitDir` and return its id: deflated, written to a
 * temporary file beside its final name and renamed (a reader never sees half an object; a
 * crash leaves at most a temporary file, which git ignores), read-only as git leaves them.
 */
export function writeLooseCommit(gitDir: string, body: Buffer): string {
  const object = Buffer.concat([Buffer.from(`commit ${body.length}\0`), body]);
  const oid = createHash('sha1').update(object).digest('hex');
  const dir = join(gitDir, 'objects', oid.slice(0, 2));
  const file = join(dir, oid.slice(2));
  if (existsSync(file)) return oid;
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `tmp_obj_${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(tmp, deflateSync(object), { mode: 0o444 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  return oid;
}

/** What git's ident code keeps byte for byte: no leading or trailing "crud", no angle brackets or newlines. */
function plainIdent(s: string): boolean {
  if (s.length === 0 || /[<>\n\0]/.test(s)) return false;
  const crud = (ch: string) => ch <= ' ' || '.,:;<>"\\\''.includes(ch);
  return !crud(s[0]!) && !crud(s[s.length - 1]!);
}

/** `+hhmm` of this machine's zone at `now`, as git prints it. */
function zone(now: Date): string {
  const off = -now.getTimezoneOffset();
  const abs = Math.abs(off);
  return `${off < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}${String(abs % 60).padStart(2, '0')}`;
}

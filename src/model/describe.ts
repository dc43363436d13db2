import { changeDomain } from './changes.js';
import type { Change, FieldChange } from './types.js';
import { isSecretPath, plainPathOf } from './secret-paths.js';

/**
 * Changes -> words, for commit messages, logs and events. Pure. Secret fields are named, never
 * shown (`user bob password changed`).
 */

/** One line per change: `acme: add user alice`, `acme: service sftp-main port 22 -> 2222`. */
export function describeChange(c: Change): string {
  const label = labelOf(c);
  const text = phrase(c, false);
  return label ? `${label}: ${text}` : text;
}

/**
 * A git subject line: changes grouped by domain, `acme: add user alice; sftp-main port 22 -> 2222;
 * beta: add domain`, cut to `maxLen` characters with `(+N more)` telling what was left out.
 */
export function summarizeChanges(changes: readonly Change[], maxLen = 72): string {
  if (changes.length === 0) return 'no changes';
  // Groups in order of first appearance, so a sorted change list gives a sorted subject.
  const groups = new Map<string, string[]>();
  for (const c of changes) {
    const label = labelOf(c);
    const list = groups.get(label) ?? [];
    list.push(phrase(c, true));
    groups.set(label, list);
  }
  const items: string[] = [];
  for (const [label, list] of groups) list.forEach((t, i) => items.push(i === 0 && label ? `${label}: ${t}` : t));

  const more = (n: number) => (n > 0 ? ` (+${n} more)` : '');
  let taken = 0;
  let line = '';
  for (let i = 0; i < items.length; i++) {
    const next = i === 0 ? items[0]! : `${line}; ${items[i]}`;
    if (next.length + more(items.length - i - 1).length > maxLen) break;
    line = next;
    taken = i + 1;
  }
  if (taken === 0) {
    // Not even the first item fits: cut it, but still say how many more there are.
    const suffix = more(items.length - 1);
    const room = Math.max(1, maxLen - suffix.length - 1);
    return `${items[0]!.slice(0, room)}…${suffix}`;
  }
  return line + more(items.length - taken);
}

/** The group a change is listed under: its domain, `server`, or none (a global file). */
function labelOf(c: Change): string {
  if (c.kind === 'server.changed') return 'server';
  return changeDomain(c) ?? '';
}

function phrase(c: Change, short: boolean): string {
  switch (c.kind) {
    case 'server.changed':
      return fieldsText(c.fields);
    case 'domain.added':
      return 'add domain';
    case 'domain.removed':
      return 'remove domain';
    case 'domain.changed':
      return short ? fieldsText(c.fields) : `domain ${fieldsText(c.fields)}`;
    case 'service.added':
      return `add service ${c.service}`;
    case 'service.removed':
      return `remove service ${c.service}`;
    case 'service.changed':
      return short ? `${c.service} ${fieldsText(c.fields)}` : `service ${c.service} ${fieldsText(c.fields)}`;
    case 'user.added':
      return `add user ${c.user}`;
    case 'user.removed':
      return `remove user ${c.user}`;
    case 'user.changed':
      return `user ${c.user} ${fieldsText(c.fields)}`;
    case 'user.moved':
      return `move user ${c.user} from ${c.from}${c.fields.length > 0 ? ` (${fieldsText(c.fields)})` : ''}`;
    case 'file.added':
    case 'file.removed':
    case 'file.changed': {
      const verb = c.kind === 'file.added' ? 'add' : c.kind === 'file.removed' ? 'remove' : 'change';
      // A declared secret (its ciphertext `x.age`): named, never shown.
      if (isSecretPath(c.path))
        return c.kind === 'file.changed'
          ? `${relPath(plainPathOf(c.path), c.domain)} <secret changed>`
          : `${verb} secret ${relPath(plainPathOf(c.path), c.domain)}`;
      return `${verb} file ${relPath(c.path, c.domain)}`;
    }
  }
}

/** `domains/acme/native/x.conf` -> `native/x.conf` when the domain is already the label. */
function relPath(path: string, domain: string | undefined): string {
  if (domain === undefined) return path;
  const parts = path.split('/');
  return parts.length > 2 && parts[1] === domain ? parts.slice(2).join('/') : path;
}

export function fieldsText(fields: readonly FieldChange[]): string {
  return fields.map(fieldText).join(', ');
}

/** `port 22 -> 2222`, `home (none) -> /srv/a`, `password changed`. */
export function fieldText(f: FieldChange): string {
  if (f.redacted) return `${f.field === 'passwordHash' ? 'password' : f.field} changed`;
  return `${f.field} ${formatValue(f.from)} -> ${formatValue(f.to)}`;
}

const MAX_VALUE = 40;

export function formatValue(v: unknown): string {
  let s: string;
  if (v === undefined) s = '(none)';
  else if (typeof v === 'string') s = /^[\w.:@/+%-]+$/.test(v) ? v : JSON.stringify(v);
  else if (Array.isArray(v)) s = `[${v.map(formatValue).join(', ')}]`;
  else if (typeof v === 'object' && v !== null) s = JSON.stringify(v);
  else s = String(v);
  return s.length > MAX_VALUE ? `${s.slice(0, MAX_VALUE - 1)}…` : s;
}

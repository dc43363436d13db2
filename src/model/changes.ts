import { keyWords } from '../util/redact.js';
import { DEFAULT_DOMAINS_DIR } from './layout.js';
import { cmp } from './parse.js';
import type { Change, ConfigModel, DomainModel, FieldChange } from './types.js';

/**
 * The structured change list between two models: what commit messages, sync plans and events are
 * made of. Pure and deterministic (same input, same list, same order), so that two nodes
 * describing the same commit agree word for word.
 *
 * Identity rules: a domain is its folder (a rename is remove + add), a service is its name within
 * its domain, a user is its file name; a user that leaves one domain for another (both domains
 * present before and after) is one `user.moved`.
 */
export function diffModels(before: ConfigModel, after: ConfigModel, opts: { domainsDir?: string } = {}): Change[] {
  const domainsDir = opts.domainsDir ?? DEFAULT_DOMAINS_DIR;
  const changes: Change[] = [];

  const server = diffFields(before.server, after.server);
  if (server.length > 0) changes.push({ kind: 'server.changed', fields: server });
  else changes.push(...layoutFileChange('server.yaml', before.serverId, after.serverId));
  changes.push(...diffFiles(before.files, after.files, (p) => p));

  for (const name of union(before.domains.keys(), after.domains.keys())) {
    const a = before.domains.get(name);
    const b = after.domains.get(name);
    if (!a) changes.push({ kind: 'domain.added', domain: name });
    else if (!b) changes.push({ kind: 'domain.removed', domain: name });
    else changes.push(...diffDomain(a, b, `${domainsDir}/${name}`));
  }

  return sortChanges(pairMoves(changes, before, after));
}

function diffDomain(a: DomainModel, b: DomainModel, dir: string): Change[] {
  const domain = a.name;
  const out: Change[] = [];
  /** Layout files whose edit is already told by a semantic change. */
  const told = new Set<string>();

  const settings = diffFields(a.settings, b.settings, ['name']);
  if (settings.length > 0) {
    out.push({ kind: 'domain.changed', domain, fields: settings });
    told.add('domain.yaml');
  }

  const svcA = new Map(a.services.map((s) => [s.name, s]));
  const svcB = new Map(b.services.map((s) => [s.name, s]));
  for (const service of union(svcA.keys(), svcB.keys())) {
    const sa = svcA.get(service);
    const sb = svcB.get(service);
    if (!sa) out.push({ kind: 'service.added', domain, service });
    else if (!sb) out.push({ kind: 'service.removed', domain, service });
    else {
      const fields = diffFields(sa, sb, ['name']);
      if (fields.length > 0) out.push({ kind: 'service.changed', domain, service, fields });
    }
  }
  if (out.some((c) => c.kind.startsWith('service.'))) told.add('services.yaml');

  for (const user of union(a.users.keys(), b.users.keys())) {
    const ua = a.users.get(user);
    const ub = b.users.get(user);
    if (!ua) out.push({ kind: 'user.added', domain, user });
    else if (!ub) out.push({ kind: 'user.removed', domain, user });
    else {
      const fields = diffFields(ua, ub, ['name']);
      if (fields.length === 0) continue;
      out.push({ kind: 'user.changed', domain, user, fields });
    }
    told.add(`users/${user}.yaml`);
  }

  // An edit that changes no field (a comment, the order of services) still changes the file
  // that is replicated, so it is reported as a file change rather than lost.
  const la = a.layoutFiles ?? new Map<string, string>();
  const lb = b.layoutFiles ?? new Map<string, string>();
  for (const rel of union(la.keys(), lb.keys())) {
    if (told.has(rel)) continue;
    out.push(...layoutFileChange(`${dir}/${rel}`, la.get(rel), lb.get(rel), domain));
  }
  out.push(...diffFiles(a.files, b.files, (rel) => `${dir}/${rel}`, domain));
  return out;
}

function layoutFileChange(path: string, a: string | undefined, b: string | undefined, domain?: string): Change[] {
  if (a === b) return [];
  const kind = a === undefined ? 'file.added' : b === undefined ? 'file.removed' : 'file.changed';
  return [domain === undefined ? { kind, path } : { kind, path, domain }];
}

function diffFiles(
  a: Map<string, string>,
  b: Map<string, string>,
  pathOf: (key: string) => string,
  domain?: string,
): Change[] {
  const out: Change[] = [];
  for (const key of union(a.keys(), b.keys()))
    out.push(...layoutFileChange(pathOf(key), a.get(key), b.get(key), domain));
  return out;
}

/**
 * A user removed from exactly one domain and added to exactly one other becomes `user.moved`.
 * Ambiguous cases (the same name added to two domains) stay as adds and removes: guessing
 * would make the audit trail lie.
 */
function pairMoves(changes: Change[], before: ConfigModel, after: ConfigModel): Change[] {
  const removed = new Map<string, string[]>();
  const added = new Map<string, string[]>();
  for (const c of changes) {
    if (c.kind === 'user.removed') push(removed, c.user, c.domain);
    if (c.kind === 'user.added') push(added, c.user, c.domain);
  }
  const moves: Change[] = [];
  const moved = new Set<string>();
  for (const [user, from] of removed) {
    const to = added.get(user);
    if (from.length !== 1 || to?.length !== 1) continue;
    const ua = before.domains.get(from[0]!)!.users.get(user);
    const ub = after.domains.get(to[0]!)!.users.get(user);
    moves.push({ kind: 'user.moved', user, from: from[0]!, to: to[0]!, fields: diffFields(ua, ub, ['name']) });
    moved.add(user);
  }
  if (moves.length === 0) return changes;
  const kept = changes.filter((c) => {
    if ((c.kind === 'user.removed' || c.kind === 'user.added') && moved.has(c.user)) return false;
    return true;
  });
  return [...kept, ...moves];
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

const KIND_ORDER: readonly Change['kind'][] = [
  'server.changed',
  'domain.removed',
  'domain.added',
  'domain.changed',
  'service.removed',
  'service.added',
  'service.changed',
  'user.removed',
  'user.added',
  'user.changed',
  'user.moved',
  'file.removed',
  'file.added',
  'file.changed',
];

/** The domains a change touches: both ends of a move, none for server and global files. */
export function domainsOfChange(c: Change): string[] {
  if (c.kind === 'user.moved') return [c.from, c.to];
  if (c.kind === 'server.changed') return [];
  return c.domain === undefined ? [] : [c.domain];
}

/** The domain a change is listed under: a move belongs to where the user now lives. */
export function changeDomain(c: Change): string | undefined {
  if (c.kind === 'user.moved') return c.to;
  if (c.kind === 'server.changed') return undefined;
  return c.domain;
}

function subjectOf(c: Change): string {
  switch (c.kind) {
    case 'service.added':
    case 'service.removed':
    case 'service.changed':
      return c.service;
    case 'user.added':
    case 'user.removed':
    case 'user.changed':
    case 'user.moved':
      return c.user;
    case 'file.added':
    case 'file.removed':
    case 'file.changed':
      return c.path;
    default:
      return '';
  }
}

/** Sorted by domain (changes outside any domain first), then kind, then the service/user/file name. */
export function sortChanges(changes: Change[]): Change[] {
  return changes.sort(
    (a, b) =>
      cmp(changeDomain(a) ?? '', changeDomain(b) ?? '') ||
      KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
      cmp(subjectOf(a), subjectOf(b)),
  );
}

/**
 * Field-by-field difference of two settings objects. Nested mappings are walked so a change
 * reads `limits.maxSessions 10 -> 20`; lists are compared whole. Secret-looking fields carry no
 * values: the audit trail must not become a password store.
 */
export function diffFields(a: unknown, b: unknown, ignore: readonly string[] = []): FieldChange[] {
  const out: FieldChange[] = [];
  walk(isPlainObject(a) ? a : {}, isPlainObject(b) ? b : {}, '', ignore, out);
  return out;
}

function walk(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  prefix: string,
  ignore: readonly string[],
  out: FieldChange[],
): void {
  for (const key of union(Object.keys(a), Object.keys(b))) {
    if (!prefix && ignore.includes(key)) continue;
    const field = prefix + key;
    const va = a[key];
    const vb = b[key];
    // A mapping added or removed whole is walked too, so a secret inside it stays redacted.
    if ((isPlainObject(va) || va === undefined) && (isPlainObject(vb) || vb === undefined)) {
      walk(va ?? {}, vb ?? {}, `${field}.`, ignore, out);
      continue;
    }
    if (deepEqual(va, vb)) continue;
    if (isSecretField(field) || holdsSecret(va) || holdsSecret(vb)) out.push({ field, redacted: true });
    else out.push({ field, ...(va === undefined ? {} : { from: va }), ...(vb === undefined ? {} : { to: vb }) });
  }
}

const SECRET_WORDS = new Set(['password', 'passwd', 'pass', 'pwd', 'passphrase', 'secret', 'token']);

/** `passwordHash`, `smtp.password`, `client_secret`, `apiToken`: fields whose values are never shown. */
export function isSecretField(field: string): boolean {
  const key = field.split('.').pop() ?? field;
  const words = keyWords(key);
  // The last word decides: `passwordHash` and `smtpPassword` are secrets, `passwordPolicy` is not.
  const last = words[words.length - 1] ?? '';
  return SECRET_WORDS.has(last) || (last === 'hash' && words.length > 1);
}

/** A list or mapping with a secret-looking key somewhere inside. */
function holdsSecret(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(holdsSecret);
  if (isPlainObject(v)) return Object.entries(v).some(([k, x]) => isSecretField(k) || holdsSecret(x));
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

function union(a: Iterable<string>, b: Iterable<string>): string[] {
  return [...new Set([...a, ...b])].sort(cmp);
}

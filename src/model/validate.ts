import ipaddr from 'ipaddr.js';
import { classifyPath, DEFAULT_DOMAINS_DIR, isSafeSegment, META_DIR } from './layout.js';
import { fastAccept } from './fast-accept.js';
import { at, isModelFile, parseTree, sortProblems, type ModelEntry, type ParsedFile, type Problem } from './parse.js';
import { isLoopbackIp, isValidIp, isWildcardIp, normalizeIp } from './schemas.js';
import { decodeUtf8, forEachConcurrently, gitBlobId, type TreeEntry, type TreeSource } from './tree-source.js';
import { positionOf, type YamlSource } from '../util/yaml-source.js';

/**
 * Everything that makes a config repo unfit to replicate, as located problems: what CI runs on
 * every push (`gitfailover validate`) and what a standby checks before it applies a commit.
 * Reads through a TreeSource, so a directory and a git commit are checked the same way.
 */

export const DEFAULT_MAX_FILE_SIZE = 1024 * 1024;

/** Stable codes of the tree-level checks (parse.ts's PROBLEM has the per-file ones). */
export const CHECK = {
  symlink: 'E_SYMLINK',
  submodule: 'E_SUBMODULE',
  tooLarge: 'E_FILE_TOO_LARGE',
  notUtf8: 'E_NOT_UTF8',
  unsafePath: 'E_UNSAFE_PATH',
  unsafeDomain: 'E_UNSAFE_DOMAIN_NAME',
  unsafeUser: 'E_UNSAFE_USER_NAME',
  duplicateBinding: 'E_DUPLICATE_BINDING',
  plaintextPassword: 'E_PLAINTEXT_PASSWORD',
  notSubstituted: 'E_IP_NOT_SUBSTITUTED',
} as const;

/** What validate needs of a node file (a NodeConfig fits): its IP substitution map. */
export interface NodeSubstitution {
  file?: string;
  substitution?: { ips?: Record<string, string> };
}

export interface ValidateOptions {
  /** Bytes; larger files are refused (default 1 MiB). */
  maxFileSize?: number;
  domainsDir?: string;
  /** With a node file, every service IP must be covered by its `substitution.ips`. */
  node?: NodeSubstitution;
}

export async function validateTree(source: TreeSource, opts: ValidateOptions = {}): Promise<Problem[]> {
  const maxFileSize = opts.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  const domainsDir = opts.domainsDir ?? DEFAULT_DOMAINS_DIR;
  const problems: Problem[] = [];
  const entries = (await source.list()).filter((e) => e.path !== META_DIR && !e.path.startsWith(`${META_DIR}/`));

  problems.push(...checkNames(entries, domainsDir));
  const readable: TreeEntry[] = [];
  const unsafe = new Set(problems.filter((p) => p.code === CHECK.unsafePath).map((p) => p.file));
  for (const e of entries) {
    const file = printable(e.path);
    if ([...unsafe].some((u) => file === u || file.startsWith(`${u}/`))) continue;
    if (e.type === 'symlink') {
      problems.push(fileProblem(file, CHECK.symlink, 'a symbolic link: links are not replicated (they can point out of the tree): put the file itself here'));
    } else if (e.type === 'submodule') {
      problems.push(fileProblem(file, CHECK.submodule, 'a git submodule (or nested repository): its content is not part of this repo: copy the files in instead'));
    } else if (e.type === 'file' && e.size > maxFileSize) {
      problems.push(fileProblem(file, CHECK.tooLarge, `${e.size} bytes, over the limit of ${maxFileSize} bytes; only configuration is replicated, not data (raise it with --max-file-size)`));
    } else if (e.type === 'file') {
      readable.push(e);
    }
  }

  // Other files are replicated verbatim: nothing to parse. Read with several reads in flight;
  // the entries keep the listing's order.
  const toRead = readable.filter((e) => isModelFile(e.path, domainsDir));
  const read: (ModelEntry | undefined)[] = new Array(toRead.length);
  await forEachConcurrently(toRead, async (e, i) => {
    const buf = await source.read(e.path);
    const text = decodeUtf8(buf);
    if (text === undefined) problems.push(fileProblem(e.path, CHECK.notUtf8, 'not UTF-8 text, so it cannot be read as YAML'));
    else read[i] = { path: e.path, id: e.id ?? gitBlobId(buf), text };
  });
  const modelEntries = read.filter((e): e is ModelEntry => e !== undefined);

  // User files and domain.yaml the fast path passes, with no plaintext password in them, can
  // have no problem here (they bind nothing and substitute nothing): `yaml` parses the rest.
  // The same fast path as the standby's check (fast-accept.ts); every problem still comes from `yaml`.
  const tree = parseTree(
    modelEntries.filter((e) => {
      const fast = fastAccept(e.path, e.text!, domainsDir);
      return !fast || plaintextPasswords(fast.value).length > 0;
    }),
    domainsDir,
  );
  problems.push(...tree.problems);
  const parsed = [...tree.files.values()];
  problems.push(...checkBindings(parsed));
  problems.push(...checkPlaintextPasswords(parsed));
  if (opts.node) problems.push(...checkSubstitution(parsed, opts.node));
  return sortProblems(problems);
}

function fileProblem(file: string, code: string, message: string): Problem {
  return { file, line: 1, col: 1, code, message };
}

/** A path shown in a message: control characters (a NUL in a crafted git tree) escaped. */
function printable(path: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(path) ? JSON.stringify(path).slice(1, -1) : path;
}

/**
 * Domain and user names become folder and file names on every standby, so each must be one safe
 * path segment; any other segment must at least not escape the tree (`..`, empty, NUL).
 */
function checkNames(entries: readonly TreeEntry[], domainsDir: string): Problem[] {
  const out: Problem[] = [];
  const seenDomains = new Set<string>();
  const unsafePaths: string[] = [];
  for (const e of entries) {
    const segs = e.path.split('/');
    const inDomain = segs[0] === domainsDir && segs.length >= 2 && (segs.length > 2 || e.type !== 'file');
    if (inDomain && !seenDomains.has(segs[1]!)) {
      seenDomains.add(segs[1]!);
      if (!isSafeSegment(segs[1]!)) {
        const file = printable(segs.slice(0, 2).join('/'));
        out.push({
          file,
          line: 1,
          col: 1,
          code: CHECK.unsafeDomain,
          message: `domain name ${JSON.stringify(segs[1])} is not a safe folder name (letters, digits, ".", "_", "@", "-", starting with a letter or digit, no "..")`,
        });
      }
    }
    const badAt = segs.findIndex((s, i) => !(inDomain && i === 1) && !isPlainSegment(s));
    if (badAt >= 0) {
      const prefix = printable(segs.slice(0, badAt + 1).join('/'));
      if (!unsafePaths.includes(prefix)) {
        unsafePaths.push(prefix);
        out.push({ file: prefix, line: 1, col: 1, code: CHECK.unsafePath, message: `${JSON.stringify(segs[badAt])} is not a usable path segment (empty, ".", "..", a backslash or a control character)` });
      }
      continue;
    }
    const c = classifyPath(e.path, domainsDir);
    if (e.type === 'file' && c.kind === 'domain' && c.file === 'user' && !isSafeSegment(c.user!)) {
      const file = printable(e.path);
      out.push({
        file,
        line: 1,
        col: 1,
        code: CHECK.unsafeUser,
        message: `user name ${JSON.stringify(c.user)} is not a safe file name (letters, digits, ".", "_", "@", "-", starting with a letter or digit, no "..")`,
      });
    }
  }
  return out;
}

function isPlainSegment(s: string): boolean {
  // eslint-disable-next-line no-control-regex
  return s !== '' && s !== '.' && s !== '..' && !/[\u0000-\u001f\u007f\\]/.test(s);
}

/** The raw services of a parsed services.yaml, even when another service of it failed its schema. */
function rawServices(f: ParsedFile): { source: YamlSource; items: unknown[] } | undefined {
  if (f.kind !== 'services') return undefined;
  const v = f.source.value as { services?: unknown } | null | undefined;
  return Array.isArray(v?.services) ? { source: f.source, items: v.services } : undefined;
}

/** A port's bindings so far, by what an overlap is looked up by; each map keeps the earliest. */
interface PortBindings {
  byAddress: Map<string, Binding>;
  firstOfFamily: Map<string, Binding>;
  firstWildcard: Map<string, Binding>;
}

interface Binding {
  /** Order of appearance: the earliest overlapping binding is the one named. */
  seq: number;
  file: string;
  line: number;
  col: number;
  service: string;
  ip: string;
  port: number;
  norm: string;
  family: string;
  wildcard: boolean;
}

/**
 * Two services listening on the same address and port (across all domains: they run in one
 * server) cannot both start. Addresses are compared as addresses (`::5` == `0:0::5`), and a
 * wildcard (0.0.0.0, ::) overlaps every address of its family. The second one is reported,
 * naming the first.
 */
function checkBindings(files: readonly ParsedFile[]): Problem[] {
  const out: Problem[] = [];
  const byPort = new Map<number, PortBindings>();
  let seq = 0;
  for (const f of files) {
    const raw = rawServices(f);
    if (!raw) continue;
    raw.items.forEach((item, i) => {
      const s = item as { name?: unknown; ip?: unknown; port?: unknown } | null;
      if (!s || typeof s.ip !== 'string' || !isValidIp(s.ip) || !isPort(s.port)) return;
      const pos = positionOf(raw.source, ['services', i, 'ip']);
      const b: Binding = {
        file: f.path,
        line: pos.line,
        col: pos.col,
        service: typeof s.name === 'string' ? s.name : `#${i + 1}`,
        ip: s.ip,
        port: s.port,
        norm: normalizeIp(s.ip)!,
        family: ipaddr.process(s.ip).kind(),
        wildcard: isWildcardIp(s.ip),
        seq: seq++,
      };
      const same = byPort.get(b.port) ?? { byAddress: new Map(), firstOfFamily: new Map(), firstWildcard: new Map() };
      // The earliest binding on this port at the same address, or of the same family when either
      // one is a wildcard (three lookups: a scan of every earlier binding was quadratic, 3 s at
      // 10,000 domains whose services share three ports).
      const candidates = [same.byAddress.get(b.norm), same.firstWildcard.get(b.family), b.wildcard ? same.firstOfFamily.get(b.family) : undefined];
      const first = candidates.reduce<Binding | undefined>((a, c) => (c && (!a || c.seq < a.seq) ? c : a), undefined);
      if (first) {
        const how = first.norm === b.norm ? 'is already used by' : 'overlaps';
        out.push(
          at(
            raw.source,
            ['services', i, 'ip'],
            CHECK.duplicateBinding,
            `services[${i}]: ${hostPort(b.ip, b.port)} of service ${b.service} ${how} ${hostPort(first.ip, first.port)} of service ${first.service} (${first.file}:${first.line}:${first.col})`,
          ),
        );
      }
      if (!same.byAddress.has(b.norm)) same.byAddress.set(b.norm, b);
      if (!same.firstOfFamily.has(b.family)) same.firstOfFamily.set(b.family, b);
      if (b.wildcard && !same.firstWildcard.has(b.family)) same.firstWildcard.set(b.family, b);
      byPort.set(b.port, same);
    });
  }
  return out;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Keys whose value is a password or secret: the last word of the key decides (`passwordPolicy` is not one). */
const SECRET_KEY_WORDS = new Set(['password', 'passwd', 'pass', 'pwd', 'passphrase', 'secret']);

export function isPasswordKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter(Boolean);
  if (words.length === 0) return false;
  const last = words[words.length - 1]!;
  if (SECRET_KEY_WORDS.has(last)) return true;
  // passwordHash, password_hash, secretHash: must hold a hash, so a plain value is a leak too.
  return last === 'hash' && words.slice(0, -1).some((w) => SECRET_KEY_WORDS.has(w));
}

const HASH_FORMATS: readonly RegExp[] = [
  // crypt(3) family: $1$ md5, $2a/b/x/y$ bcrypt, $5$ $6$ sha-crypt, $y$ $gy$ yescrypt, $7$ scrypt, $argon2id$...
  /^!?\$(1|2[abxy]?|5|6|7|y|gy|md5|sha1|argon2(i|d|id)|scrypt|pbkdf2(-sha(1|256|512))?|bcrypt(-sha256)?)\$/i,
  // LDAP style: {SSHA}..., {PBKDF2-SHA256}..., {CRYPT}$6$...
  /^\{(SSHA|SSHA256|SSHA512|SHA|SHA256|SHA512|SMD5|MD5|CRYPT|BCRYPT|ARGON2|PBKDF2(-SHA(1|256|512))?)\}/i,
  // Django/passlib style: pbkdf2_sha256$...
  /^(pbkdf2_sha(1|256|512)|argon2|bcrypt(_sha256)?|scrypt)\$/i,
  // A locked or disabled account.
  /^[!*]+$/,
];

/** A value that is not itself a secret: a hash, or a reference resolved elsewhere (`env:NAME`). */
export function looksLikeHashOrReference(v: string): boolean {
  return HASH_FORMATS.some((re) => re.test(v)) || /^(env|file):\S+$/.test(v);
}

/** A repo's history is forever and widely cloned: a plaintext password in it is a leak. */
function checkPlaintextPasswords(files: readonly ParsedFile[]): Problem[] {
  const out: Problem[] = [];
  for (const f of files) {
    if (f.kind === 'other' || f.source.value === undefined) continue;
    for (const p of plaintextPasswords(f.source.value)) {
      out.push(at(f.source, p, CHECK.plaintextPassword, `${p.map(String).join('.')}: looks like a plaintext password; store a hash (bcrypt $2b$..., $6$..., $argon2id$..., {SSHA}...) or an env:NAME reference`));
    }
  }
  return out;
}

/** The paths in a parsed value of every password-like key holding a plaintext string. */
function plaintextPasswords(value: unknown): (string | number)[][] {
  const out: (string | number)[][] = [];
  const visit = (v: unknown, path: (string | number)[]): void => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...path, i]));
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === 'string' && x !== '' && isPasswordKey(k) && !looksLikeHashOrReference(x)) out.push([...path, k]);
        else visit(x, [...path, k]);
      }
    }
  };
  visit(value, []);
  return out;
}

/**
 * A standby loads each domain with its own addresses: a production IP missing from the node's
 * `substitution.ips` would be loaded as is and fail to bind (or, worse, clash). Wildcard and
 * loopback addresses are the same on every host and need no substitution.
 */
function checkSubstitution(files: readonly ParsedFile[], node: NodeSubstitution): Problem[] {
  const covered = new Set<string>();
  for (const ip of Object.keys(node.substitution?.ips ?? {})) {
    const n = normalizeIp(ip);
    if (n) covered.add(n);
  }
  const nodeName = node.file ?? 'the node file';
  const out: Problem[] = [];
  for (const f of files) {
    const raw = rawServices(f);
    if (!raw) continue;
    raw.items.forEach((item, i) => {
      const s = item as { name?: unknown; ip?: unknown } | null;
      if (!s || typeof s.ip !== 'string' || !isValidIp(s.ip) || isWildcardIp(s.ip) || isLoopbackIp(s.ip)) return;
      if (covered.has(normalizeIp(s.ip)!)) return;
      const name = typeof s.name === 'string' ? s.name : `#${i + 1}`;
      out.push(at(raw.source, ['services', i, 'ip'], CHECK.notSubstituted, `services[${i}].ip: ${s.ip} of service ${name} has no substitution in ${nodeName} (add it under substitution.ips)`));
    });
  }
  return out;
}

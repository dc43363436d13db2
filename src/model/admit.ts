import ipaddr from 'ipaddr.js';
import { escapeControl, escapePath } from '../util/escape.js';
import { isAlias, isMap, isScalar, isSeq, Scalar } from 'yaml';
import { classifyPath, DEFAULT_DOMAINS_DIR, isSafeSegment, META_DIR } from './layout.js';
import { at, PROBLEM, type ParsedFile, type Problem } from './parse.js';
import { isLoopbackIp, isValidIp, isWildcardIp, normalizeIp } from './schemas.js';
import { errorMessage, GitfailoverError } from '../errors.js';
import { parseTriggersFile } from '../triggers/schema.js';
import { keyWords } from '../util/redact.js';
import { DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_FILES } from './limits.js';

/**
 * The admission rules: what may enter the config repo and reach a live dir. One pure module used
 * by all three gates (`validate` in CI, `record` on the primary, `sync` on a standby), so what CI
 * passes applies and what it refuses never reaches a server. Each rule takes facts (a path, a
 * mode, a size, bytes or a parsed document) and returns located problems with one stable code.
 * The gates only gather the facts (from a directory, a live dir or a git tree) and act on the result.
 */

/** One stable code per fault. parse.ts's PROBLEM codes (YAML, schema, ...) are part of the set. */
export const RULE = {
  unsafePath: 'E_UNSAFE_PATH',
  nameTooLong: 'E_NAME_TOO_LONG',
  unsafeName: 'E_UNSAFE_NAME',
  gitControlFile: 'E_GIT_CONTROL_FILE',
  symlink: 'E_SYMLINK',
  submodule: 'E_SUBMODULE',
  executable: 'E_EXECUTABLE',
  tooLarge: 'E_FILE_TOO_LARGE',
  tooMany: 'E_TOO_MANY_FILES',
  duplicateEntry: 'E_DUPLICATE_ENTRY',
  typeClash: 'E_TYPE_CLASH',
  notUtf8: 'E_NOT_UTF8',
  yaml: PROBLEM.yaml,
  schema: PROBLEM.schema,
  ip: PROBLEM.ip,
  port: PROBLEM.port,
  nameMismatch: PROBLEM.nameMismatch,
  duplicateService: PROBLEM.duplicateService,
  triggers: 'E_TRIGGERS',
  ipNotRewritable: 'E_IP_NOT_REWRITABLE',
  duplicateBinding: 'E_DUPLICATE_BINDING',
  plaintextPassword: 'E_PLAINTEXT_PASSWORD',
  privateKey: 'E_SECRET_IN_FILE',
} as const;

export type Gate = 'validate' | 'record' | 'sync';

export interface RuleInfo {
  code: string;
  means: string;
  fix: string;
  /** Gates where the fault cannot arise at all, and why (the table test skips only these). */
  cannotArise?: Partial<Record<Gate, string>>;
}

const NOT_ON_DISK = 'a file system cannot hold it; only a crafted git tree can';

/** Every rule, in the order of the README's table. */
export const RULES: readonly RuleInfo[] = [
  {
    code: RULE.unsafePath,
    means:
      'a path segment that is empty, ".", "..", ".git", or holds a backslash or a control character (newline, escape, NUL)',
    fix: 'rename the file or folder',
  },
  {
    code: RULE.nameTooLong,
    means: 'a file or folder name over 255 bytes, which no Linux file system can hold',
    fix: 'shorten the name',
    cannotArise: { validate: NOT_ON_DISK, record: NOT_ON_DISK },
  },
  {
    code: RULE.unsafeName,
    means:
      'a domain folder or user file name outside letters, digits, ".", "_", "@", "-" (starting with a letter or digit, no ".."): such names reach commands as arguments',
    fix: 'rename the domain folder or user file',
  },
  {
    code: RULE.gitControlFile,
    means: 'a .gitattributes or .gitmodules file: git would run filters or fetch other repos on checkout',
    fix: 'delete it (or add it to live.exclude)',
  },
  {
    code: RULE.symlink,
    means: 'a symbolic link: it could point out of the live dir',
    fix: 'put the file itself there',
  },
  {
    code: RULE.submodule,
    means: 'a git submodule or nested repository: its content is not part of the repo',
    fix: 'copy the files in instead',
  },
  {
    code: RULE.executable,
    means:
      'a file with the executable bit: configuration is replicated as plain files (mode 644), so the bit would be lost',
    fix: 'chmod -x it (or add it to live.exclude)',
  },
  {
    code: RULE.tooLarge,
    means: 'a file over repo.maxFileSize: only configuration is replicated, not data',
    fix: 'add it to live.exclude, or raise repo.maxFileSize on every node',
  },
  {
    code: RULE.tooMany,
    means: 'more files than repo.maxFiles',
    fix: 'exclude data folders (live.exclude), or raise repo.maxFiles on every node',
  },
  {
    code: RULE.duplicateEntry,
    means: 'a git tree listing the same name twice',
    fix: 'rewrite the commit with a normal git (git revert it)',
    cannotArise: { validate: NOT_ON_DISK, record: NOT_ON_DISK },
  },
  {
    code: RULE.typeClash,
    means:
      'a path that is a file where a folder is expected (the domains folder, or a domain) or a folder where a file is',
    fix: 'move the file away, or rename it',
  },
  { code: RULE.notUtf8, means: 'a YAML file of the layout that is not UTF-8 text', fix: 'save it as UTF-8' },
  {
    code: RULE.yaml,
    means: 'YAML that does not parse (syntax, duplicate key, too deep, aliases)',
    fix: 'fix the YAML at the line given',
  },
  {
    code: RULE.schema,
    means:
      'a known field with a value of the wrong type, or a required field missing (fields the layout does not know are replicated as they are)',
    fix: 'fix the field named',
  },
  { code: RULE.ip, means: "a service's ip that is not an IPv4 or IPv6 address", fix: 'write the address in full' },
  { code: RULE.port, means: "a service's port outside 1-65535", fix: 'fix the port' },
  {
    code: RULE.nameMismatch,
    means: 'a domain.yaml or user file whose name differs from its folder or file name',
    fix: 'make them agree (a domain is named by its folder, a user by its file)',
  },
  { code: RULE.duplicateService, means: 'two services of one domain with the same name', fix: 'rename one' },
  {
    code: RULE.triggers,
    means: "a domain's triggers.yaml that does not fit the triggers schema",
    fix: 'fix the trigger named',
  },
  {
    code: RULE.ipNotRewritable,
    means: "a service's ip written in a form IP substitution cannot rewrite exactly (a block scalar, an alias, a tag)",
    fix: 'write it as a plain or quoted scalar: ip: 10.0.0.5',
  },
  {
    code: RULE.duplicateBinding,
    means:
      'two services on the same address and port, or a wildcard (0.0.0.0, ::) beside an address of its family on the same port',
    fix: 'change the port or address of one',
  },
  {
    code: RULE.plaintextPassword,
    means: 'a password-like field holding a plain value',
    fix: 'store a hash ($2b$..., $6$..., {SSHA}...) or an env:NAME reference',
  },
  {
    code: RULE.privateKey,
    means:
      "a private key block (-----BEGIN ... PRIVATE KEY-----), or at record the value of one of the node file's secrets: a secret in the repo stays in its history for good",
    fix: 'declare the file a secret (secrets.files in the node file: recorded encrypted with age as <path>.age), keep the key out of the live dir, or add it to live.exclude',
  },
];

export interface AdmitLimits {
  domainsDir: string;
  /** Bytes; larger files are refused. */
  maxFileSize: number;
  /** Files in the whole tree. */
  maxFiles: number;
}

export { DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_FILES };

export const DEFAULT_LIMITS: AdmitLimits = {
  domainsDir: DEFAULT_DOMAINS_DIR,
  maxFileSize: DEFAULT_MAX_FILE_SIZE,
  maxFiles: DEFAULT_MAX_FILES,
};

/** What every gate knows of an entry before reading it. */
export interface EntryFacts {
  path: string;
  kind: 'file' | 'symlink' | 'submodule' | 'dir';
  /** Unix mode bits (0o100755, or the permission bits of a stat). */
  mode?: number;
  size: number;
}

/** A path shown in a message or on a terminal: control characters (and backslashes) escaped. */
export const printable = escapePath;

/** Text for a terminal (a log line, a commit subject): control characters escaped, the rest as it is. */
export const printableText = (text: string): string => escapeControl(text);

function problem(file: string, code: string, message: string): Problem {
  return { file: printable(file), line: 1, col: 1, code, message };
}

/** git's own control files: a checkout of them runs filter commands or clones other repos. */
const GIT_CONTROL_FILES = new Set(['.gitattributes', '.gitmodules']);

/**
 * The path rules: every segment usable as a file name anywhere (no `..`, no control character,
 * no backslash, at most 255 bytes), no git control file, and safe domain and user names.
 * At most one problem per path, the one nearest the root (a folder's fault is its files' fault).
 */
export function admitPath(path: string, domainsDir: string = DEFAULT_DOMAINS_DIR, isDir = false): Problem[] {
  const segs = path.split('/');
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    const at = segs.slice(0, i + 1).join('/');
    // eslint-disable-next-line no-control-regex
    if (s === '' || s === '.' || s === '..' || s.toLowerCase() === '.git' || /[\u0000-\u001f\u007f\\]/.test(s)) {
      return [
        problem(
          at,
          RULE.unsafePath,
          `${JSON.stringify(s)} is not a usable path segment (empty, ".", "..", ".git", a backslash or a control character): rename it`,
        ),
      ];
    }
    if (Buffer.byteLength(s) > 255)
      return [
        problem(
          at,
          RULE.nameTooLong,
          `a name of ${Buffer.byteLength(s)} bytes, over the 255 a file system can hold: shorten it`,
        ),
      ];
    if (GIT_CONTROL_FILES.has(s.toLowerCase())) {
      return [
        problem(
          at,
          RULE.gitControlFile,
          `a git control file (${s}), which could make git run commands or fetch other repos: it is never replicated; delete it`,
        ),
      ];
    }
    if (i === 1 && segs[0] === domainsDir && (segs.length > 2 || isDir) && !isSafeSegment(s)) {
      return [
        problem(
          at,
          RULE.unsafeName,
          `domain name ${JSON.stringify(s)} is not a safe folder name (letters, digits, ".", "_", "@", "-", starting with a letter or digit, no ".."): rename the folder`,
        ),
      ];
    }
  }
  if (!isDir) {
    const c = classifyPath(path, domainsDir);
    if (c.kind === 'domain' && c.file === 'user' && !isSafeSegment(c.user!)) {
      return [
        problem(
          path,
          RULE.unsafeName,
          `user name ${JSON.stringify(c.user)} is not a safe file name (letters, digits, ".", "_", "@", "-", starting with a letter or digit, no ".."): rename the file`,
        ),
      ];
    }
  }
  return [];
}

/** Path rules, then what the entry is (symlink, submodule, executable) and its size, before any byte is read. */
export function admitEntry(e: EntryFacts, limits: AdmitLimits): Problem[] {
  const named = admitPath(e.path, limits.domainsDir, e.kind === 'dir');
  if (named.length > 0) return named;
  if (e.kind === 'symlink')
    return [
      problem(
        e.path,
        RULE.symlink,
        'a symbolic link: links are not replicated (they can point out of the live dir); put the file itself here',
      ),
    ];
  if (e.kind === 'submodule')
    return [
      problem(
        e.path,
        RULE.submodule,
        'a git submodule (or nested repository): its content is not part of this repo; copy the files in instead',
      ),
    ];
  if (e.kind === 'file' && e.mode !== undefined && (e.mode & 0o111) !== 0) {
    return [
      problem(
        e.path,
        RULE.executable,
        `an executable file (mode ${(e.mode & 0o777).toString(8)}): files are replicated as plain files, so the bit would be lost; chmod -x it, or exclude it`,
      ),
    ];
  }
  if (e.kind === 'file' && e.size > limits.maxFileSize) {
    return [
      problem(
        e.path,
        RULE.tooLarge,
        `${e.size} bytes, over repo.maxFileSize (${limits.maxFileSize} bytes); only configuration is replicated, not data: exclude it, or raise the limit on every node`,
      ),
    ];
  }
  return [];
}

export function admitCount(files: number, limits: AdmitLimits, where = '.'): Problem[] {
  if (files <= limits.maxFiles) return [];
  return [
    problem(
      where,
      RULE.tooMany,
      `${files} files, over repo.maxFiles (${limits.maxFiles}): exclude data folders (live.exclude), or raise the limit on every node`,
    ),
  ];
}

/**
 * The shape of a listing: no name twice (only a crafted git tree can), no path that is both a
 * file and a folder, and the domains folder and each domain a folder.
 */
export function admitShape(
  entries: readonly { path: string; kind: EntryFacts['kind'] }[],
  domainsDir: string,
): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  const files = new Set<string>();
  for (const e of entries) {
    if (seen.has(e.path))
      out.push(
        problem(
          e.path,
          RULE.duplicateEntry,
          'listed twice in its git tree (a crafted tree): which one a checkout gets is undefined',
        ),
      );
    seen.add(e.path);
    if (e.kind !== 'dir') files.add(e.path);
  }
  for (const e of entries) {
    let cut = e.path.lastIndexOf('/');
    while (cut > 0) {
      const parent = e.path.slice(0, cut);
      if (files.has(parent)) {
        out.push(problem(parent, RULE.typeClash, `a file, and also a folder holding ${printable(e.path)}`));
        files.delete(parent); // once per file
      }
      cut = parent.lastIndexOf('/');
    }
    const segs = e.path.split('/');
    if (e.kind !== 'dir' && segs[0] === domainsDir && segs.length <= 2) {
      out.push(
        problem(
          e.path,
          RULE.typeClash,
          segs.length === 1
            ? `a file where the domains folder (${domainsDir}/) belongs`
            : `a file directly in ${domainsDir}/, where only domain folders belong`,
        ),
      );
    }
  }
  return out;
}

/** Strict UTF-8 (a BOM is dropped); undefined when the bytes are not UTF-8. */
export function decodeUtf8(buf: Uint8Array): string | undefined {
  try {
    return utf8.decode(buf);
  } catch {
    return undefined;
  }
}
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** The text of a YAML file of the layout, or the problem: invalid UTF-8 is never guessed at. */
export function admitText(path: string, bytes: Uint8Array): { text?: string; problems: Problem[] } {
  const text = decodeUtf8(bytes);
  if (text === undefined)
    return {
      problems: [problem(path, RULE.notUtf8, 'not UTF-8 text, so it cannot be read as YAML: save it as UTF-8')],
    };
  return { text, problems: [] };
}

const PEM_MARKER = Buffer.from('PRIVATE KEY');
/** PEM and OpenSSH private keys: `-----BEGIN RSA PRIVATE KEY-----`, `-----BEGIN OPENSSH PRIVATE KEY-----`, ... */
export const PRIVATE_KEY = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;

/** Content rules for any file (YAML or not): a private key is never replicated. */
export function admitBytes(path: string, bytes: Buffer): Problem[] {
  // The marker test first: a memchr-like scan, so the 200,000 files of a full sync cost little.
  if (bytes.indexOf(PEM_MARKER) < 0 || !PRIVATE_KEY.test(bytes.toString('latin1'))) return [];
  return [
    problem(
      path,
      RULE.privateKey,
      'holds a private key block (-----BEGIN ... PRIVATE KEY-----): a secret in the config repo stays in its history; declare the file a secret (secrets.files: recorded encrypted with age), keep it out of the live dir or exclude it',
    ),
  ];
}

/**
 * Rules on a parsed YAML file of the layout: no plaintext password in any of them, and in
 * services.yaml every valid `ip` written so that IP substitution can rewrite it exactly (a plain
 * or quoted scalar): a block scalar or an alias would pass production's address through unchanged.
 */
export function admitParsed(f: ParsedFile): Problem[] {
  if (f.kind === 'other' || f.source.value === undefined) return [];
  const out: Problem[] = [];
  for (const p of plaintextPasswords(f.source.value)) {
    out.push(
      at(
        f.source,
        p,
        RULE.plaintextPassword,
        `${p.map(String).join('.')}: looks like a plaintext password; store a hash (bcrypt $2b$..., $6$..., $argon2id$..., {SSHA}...) or an env:NAME reference`,
      ),
    );
  }
  if (f.kind === 'services') out.push(...unrewritableIps(f));
  return out;
}

/** A domain's triggers.yaml that parsed as YAML: the triggers module's schema decides. */
export function admitTriggers(path: string, text: string): Problem[] {
  try {
    parseTriggersFile(path, text);
    return [];
  } catch (err) {
    const loc = err instanceof GitfailoverError ? err.location : {};
    return [
      {
        file: path,
        line: loc.line ?? 1,
        col: loc.col ?? 1,
        code: RULE.triggers,
        message: errorMessage(err).replace(/^[^:]*:\d+:\d+: /, ''),
      },
    ];
  }
}

function unrewritableIps(f: Extract<ParsedFile, { kind: 'services' }>): Problem[] {
  const root = f.source.doc.contents;
  const list = isMap(root) ? root.get('services', true) : root;
  if (!isSeq(list)) return [];
  const out: Problem[] = [];
  list.items.forEach((item, i) => {
    if (!isMap(item)) return;
    const node = item.get('ip', true);
    if (node === undefined || node === null) return;
    const plain =
      isScalar(node) &&
      (node.type === Scalar.PLAIN || node.type === Scalar.QUOTE_DOUBLE || node.type === Scalar.QUOTE_SINGLE);
    if (plain) return;
    const value = isAlias(node) ? node.resolve(f.source.doc) : node;
    if (!isScalar(value) || typeof value.value !== 'string' || !isValidIp(value.value.trim())) return; // E_IP_INVALID or the schema says why
    const how = isAlias(node) ? 'an alias' : 'a block scalar';
    out.push(
      at(
        f.source,
        ['services', i, 'ip'],
        RULE.ipNotRewritable,
        `services[${i}].ip: ${value.value.trim()} is written as ${how}, which IP substitution cannot rewrite exactly: write it as a plain or quoted scalar (ip: ${value.value.trim()})`,
      ),
    );
  });
  return out;
}

/** Keys whose value is a password or secret: the last word of the key decides (`passwordPolicy` is not one). */
const SECRET_KEY_WORDS = new Set(['password', 'passwd', 'pass', 'pwd', 'passphrase', 'secret']);

export function isPasswordKey(key: string): boolean {
  const words = keyWords(key);
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

/** The paths in a parsed value of every password-like key holding a plaintext string. */
export function plaintextPasswords(value: unknown): (string | number)[][] {
  const out: (string | number)[][] = [];
  const visit = (v: unknown, path: (string | number)[]): void => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...path, i]));
    else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (typeof x === 'string' && x !== '' && isPasswordKey(k) && !looksLikeHashOrReference(x))
          out.push([...path, k]);
        else visit(x, [...path, k]);
      }
    }
  };
  visit(value, []);
  return out;
}

/** One service's binding, where it was written. */
export interface BindingFact {
  file: string;
  line: number;
  col: number;
  service: string;
  ip: string;
  port: number;
  /** The domain it belongs to, for the standby's message. */
  domain?: string;
}

interface Bound extends BindingFact {
  seq: number;
  norm: string;
  family: string;
  wildcard: boolean;
}

/**
 * Bindings of one server (all domains run in it): two services cannot listen on one address and
 * port, and a wildcard (0.0.0.0, ::) overlaps every address of its family on that port. Each
 * add() answers the earliest binding it overlaps; three map lookups, never a scan.
 */
export class BindingIndex {
  private seq = 0;
  private readonly byPort = new Map<
    number,
    { byAddress: Map<string, Bound>; firstOfFamily: Map<string, Bound>; firstWildcard: Map<string, Bound> }
  >();

  add(b: BindingFact): BindingFact | undefined {
    const norm = normalizeIp(b.ip) ?? b.ip;
    const family = isValidIp(b.ip) ? ipaddr.process(b.ip).kind() : 'unknown';
    const me: Bound = { ...b, seq: this.seq++, norm, family, wildcard: isWildcardIp(b.ip) };
    const same = this.byPort.get(b.port) ?? {
      byAddress: new Map(),
      firstOfFamily: new Map(),
      firstWildcard: new Map(),
    };
    const candidates = [
      same.byAddress.get(norm),
      same.firstWildcard.get(family),
      me.wildcard ? same.firstOfFamily.get(family) : undefined,
    ];
    const first = candidates.reduce<Bound | undefined>((a, c) => (c && (!a || c.seq < a.seq) ? c : a), undefined);
    if (!same.byAddress.has(norm)) same.byAddress.set(norm, me);
    if (!same.firstOfFamily.has(family)) same.firstOfFamily.set(family, me);
    if (me.wildcard && !same.firstWildcard.has(family)) same.firstWildcard.set(family, me);
    this.byPort.set(b.port, same);
    return first;
  }
}

export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** `ip:port` as the standby stores a binding -> its parts. */
export function splitBinding(b: string): { ip: string; port: number } {
  const cut = b.lastIndexOf(':');
  return { ip: b.slice(0, cut).replace(/^\[|\]$/g, ''), port: Number(b.slice(cut + 1)) };
}

/** A service address a standby would load as production has it. */
export interface Unmapped {
  domain: string;
  /** The service's name, when the caller has the names (a sync does; the stored bindings do not). */
  service?: string;
  ip: string;
  port: number;
}

/** How many unmapped services the sync's log and the CLI print one by one (then a count). */
export const UNMAPPED_LINES = 20;

/** "service sftp, 10.0.0.6:22" (the name escaped: it is repo content), or the address alone when the name is unknown. */
export function describeUnmappedService(u: Unmapped): string {
  return `${u.service === undefined ? '' : `service ${escapeControl(u.service)}, `}${hostPort(u.ip, u.port)}`;
}

/**
 * The bindings (after IP substitution) that still hold an address `ips` did not map: with a
 * non-empty `ips`, such a service would listen on production's address on the failover. Wildcard
 * and loopback addresses, the standby's own addresses (the map's values) and `keep` are left alone.
 * `services` (each domain's service names, index for index with its bindings) names the service.
 */
export function unmappedBindings(
  bindings: Readonly<Record<string, readonly string[]>>,
  ips: Readonly<Record<string, string>>,
  keep: readonly string[],
  services?: Readonly<Record<string, readonly string[]>>,
): Unmapped[] {
  if (Object.keys(ips).length === 0) return [];
  const own = new Set([...Object.values(ips), ...keep].map((ip) => normalizeIp(ip) ?? ip));
  const out: Unmapped[] = [];
  // Bindings share a few addresses: each is judged once (parsing one is most of the cost).
  const judged = new Map<string, boolean>();
  const skip = (ip: string) => {
    let v = judged.get(ip);
    if (v === undefined) {
      v = !isValidIp(ip) || isWildcardIp(ip) || isLoopbackIp(ip) || own.has(normalizeIp(ip) ?? ip);
      judged.set(ip, v);
    }
    return v;
  };
  for (const [domain, list] of Object.entries(bindings)) {
    list.forEach((b, i) => {
      const { ip, port } = splitBinding(b);
      if (skip(ip)) return;
      const service = services?.[domain]?.[i];
      out.push(service === undefined ? { domain, ip, port } : { domain, service, ip, port });
    });
  }
  return out;
}

/** Entries of a tree that the admission rules look at: everything but the repo's own metadata. */
export function isAdmitted(path: string): boolean {
  return path !== META_DIR && !path.startsWith(`${META_DIR}/`);
}

import {
  admitBytes,
  admitCount,
  admitEntry,
  admitParsed,
  admitShape,
  admitText,
  admitTriggers,
  BindingIndex,
  DEFAULT_MAX_FILE_SIZE,
  DEFAULT_MAX_FILES,
  hostPort,
  isAdmitted,
  plaintextPasswords,
  printable,
  RULE,
  type AdmitLimits,
} from './admit.js';
import { DEFAULT_DOMAINS_DIR } from './layout.js';
import { fastAccept } from './fast-accept.js';
import { at, isModelFile, parseTree, sortProblems, type ModelEntry, type ParsedFile, type Problem } from './parse.js';
import { isLoopbackIp, isValidIp, isWildcardIp, normalizeIp } from './schemas.js';
import { forEachConcurrently, gitBlobId, type TreeEntry, type TreeSource } from './tree-source.js';
import { positionOf, type YamlSource } from '../util/yaml-source.js';

export { isPasswordKey, looksLikeHashOrReference } from './admit.js';
export { DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_FILES };

/**
 * Everything that makes a config repo unfit to replicate, as located problems: what CI runs on
 * every push (`gitfailover validate`). The rules are admit.ts's, the same the primary's record
 * and a standby's sync apply; this reads a whole tree through a TreeSource (a directory or a
 * git commit) and runs all of them over it.
 */

/** Codes of the tree-level checks (kept for callers; admit.ts's RULE is the whole set). */
export const CHECK = {
  symlink: RULE.symlink,
  submodule: RULE.submodule,
  tooLarge: RULE.tooLarge,
  notUtf8: RULE.notUtf8,
  unsafePath: RULE.unsafePath,
  unsafeName: RULE.unsafeName,
  duplicateBinding: RULE.duplicateBinding,
  plaintextPassword: RULE.plaintextPassword,
  notSubstituted: 'E_IP_NOT_SUBSTITUTED',
} as const;

/** What validate needs of a node file (a NodeConfig fits): its IP substitution map. */
export interface NodeSubstitution {
  file?: string;
  substitution?: { ips?: Record<string, string>; keep?: readonly string[] };
}

export interface ValidateOptions {
  /** Bytes; larger files are refused (default 1 MiB). */
  maxFileSize?: number;
  /** Files in the tree (default DEFAULT_MAX_FILES). */
  maxFiles?: number;
  domainsDir?: string;
  /** With a node file, every service IP must be covered by its `substitution.ips` (or `keep`). */
  node?: NodeSubstitution;
}

export async function validateTree(source: TreeSource, opts: ValidateOptions = {}): Promise<Problem[]> {
  const limits: AdmitLimits = {
    domainsDir: opts.domainsDir ?? DEFAULT_DOMAINS_DIR,
    maxFileSize: opts.maxFileSize ?? DEFAULT_MAX_FILE_SIZE,
    maxFiles: opts.maxFiles ?? DEFAULT_MAX_FILES,
  };
  const domainsDir = limits.domainsDir;
  const problems: Problem[] = [];
  const entries = (await source.list()).filter((e) => isAdmitted(e.path));

  problems.push(
    ...admitShape(
      entries.map((e) => ({ path: e.path, kind: e.type })),
      domainsDir,
    ),
  );
  problems.push(...admitCount(entries.filter((e) => e.type !== 'dir').length, limits));
  const readable: TreeEntry[] = [];
  // A folder's fault is reported once, not again for each file in it.
  const refused = new Set<string>();
  const under = (path: string) => {
    for (let cut = path.lastIndexOf('/'); cut > 0; cut = path.lastIndexOf('/', cut - 1))
      if (refused.has(printable(path.slice(0, cut)))) return true;
    return false;
  };
  for (const e of entries) {
    if (under(e.path)) continue;
    const found = admitEntry({ path: e.path, kind: e.type, mode: e.mode, size: e.size }, limits);
    for (const p of found) {
      if (refused.has(p.file)) continue;
      refused.add(p.file);
      problems.push(p);
    }
    if (found.length === 0 && e.type === 'file') readable.push(e);
  }

  // Every file is read (the private-key rule applies to all); the layout's YAML files are
  // decoded and parsed too. Several reads in flight; the entries keep the listing's order.
  const read: (ModelEntry | undefined)[] = new Array(readable.length);
  await forEachConcurrently(readable, async (e, i) => {
    const buf = await source.read(e.path);
    problems.push(...admitBytes(e.path, buf));
    if (!isModelFile(e.path, domainsDir)) return;
    const t = admitText(e.path, buf);
    problems.push(...t.problems);
    if (t.text !== undefined) read[i] = { path: e.path, id: e.id ?? gitBlobId(buf), text: t.text };
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
  const textOf = new Map(modelEntries.map((e) => [e.path, e.text!]));
  for (const f of parsed) {
    problems.push(...admitParsed(f));
    if (f.kind === 'triggers' && f.problems.length === 0) problems.push(...admitTriggers(f.path, textOf.get(f.path)!));
  }
  problems.push(...checkBindings(parsed));
  if (opts.node) problems.push(...checkSubstitution(parsed, opts.node));
  return sortProblems(problems);
}

/** The raw services of a parsed services.yaml, even when another service of it failed its schema. */
function rawServices(f: ParsedFile): { source: YamlSource; items: unknown[] } | undefined {
  if (f.kind !== 'services') return undefined;
  const v = f.source.value as { services?: unknown } | null | undefined;
  return Array.isArray(v?.services) ? { source: f.source, items: v.services } : undefined;
}

/**
 * Two services listening on the same address and port (across all domains: they run in one
 * server) cannot both start; a wildcard overlaps every address of its family (admit.ts's
 * BindingIndex). The second one is reported, naming the first.
 */
export function checkBindings(files: readonly ParsedFile[]): Problem[] {
  const out: Problem[] = [];
  const index = new BindingIndex();
  for (const f of files) {
    const raw = rawServices(f);
    if (!raw) continue;
    raw.items.forEach((item, i) => {
      const s = item as { name?: unknown; ip?: unknown; port?: unknown } | null;
      if (!s || typeof s.ip !== 'string' || !isValidIp(s.ip) || !isPort(s.port)) return;
      const pos = positionOf(raw.source, ['services', i, 'ip']);
      const b = {
        file: f.path,
        line: pos.line,
        col: pos.col,
        service: typeof s.name === 'string' ? s.name : `#${i + 1}`,
        ip: s.ip,
        port: s.port,
      };
      const first = index.add(b);
      if (first) {
        const how = normalizeIp(first.ip) === normalizeIp(b.ip) ? 'is already used by' : 'overlaps';
        out.push(
          at(
            raw.source,
            ['services', i, 'ip'],
            CHECK.duplicateBinding,
            `services[${i}]: ${hostPort(b.ip, b.port)} of service ${b.service} ${how} ${hostPort(first.ip, first.port)} of service ${first.service} (${first.file}:${first.line}:${first.col})`,
          ),
        );
      }
    });
  }
  return out;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/**
 * A standby loads each domain with its own addresses: a production IP missing from the node's
 * `substitution.ips` would be loaded as is and fail to bind (or, worse, clash). Wildcard and
 * loopback addresses are the same on every host and need no substitution.
 */
function checkSubstitution(files: readonly ParsedFile[], node: NodeSubstitution): Problem[] {
  const covered = new Set<string>();
  for (const ip of [...Object.keys(node.substitution?.ips ?? {}), ...(node.substitution?.keep ?? [])]) {
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
      out.push(
        at(
          raw.source,
          ['services', i, 'ip'],
          CHECK.notSubstituted,
          `services[${i}].ip: ${s.ip} of service ${name} is not in substitution.ips of ${nodeName}, so the failover would listen on production's address (map it under substitution.ips, or list it under substitution.keep if it is shared on purpose)`,
        ),
      );
    });
  }
  return out;
}

import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitfailoverError } from '../errors.js';
import {
  admitCount,
  admitEntry,
  admitPath,
  admitShape,
  isAdmitted,
  printable,
  RULE,
  type AdmitLimits,
  type EntryFacts,
} from '../model/admit.js';
import { classifyPath } from '../model/layout.js';
import { gitBlobId } from '../model/tree-source.js';
import type { Problem } from '../model/parse.js';
import type { LsEntry, NodeRepo } from '../repo/node-repo.js';
import { listTrees } from '../repo/tree-walk.js';

export interface TargetFile {
  path: string;
  oid: string;
  content: Buffer;
}

/**
 * Lists and reads what an apply needs from the target commit: the files of the domains to load
 * and the global files to write, with one `ls-tree` and reads from the kept-open cat-file. Refuses
 * what must never reach a live dir: symlinks, submodules, unsafe path segments, oversized files.
 */
export async function readTarget(
  repo: NodeRepo,
  target: string,
  want: { domains: readonly string[]; globals: readonly string[]; all?: boolean },
  opts: {
    domainsDir: string;
    maxFileSize: number;
    /** Files in what is read (a full sync: the whole tree); default: no limit. */
    maxFiles?: number;
    /**
     * The target's top listing (a full sync: listTrees with the domains folder kept), when the
     * caller has it: each domain's files are then listed only when its turn to be read comes.
     */
    top?: readonly LsEntry[];
    /**
     * Called with the files as they are read, in batches and in order, before the whole read
     * ends: a full sync checks the first batches on worker threads while git sends the rest.
     * `complete`: the domains whose last file is in this batch. `domains` is the map this call
     * returns, as filled so far: a consumer that has all it needs of a domain may empty its list.
     * A promise returned is waited for before the next batch is read (the consumer's back-pressure).
     */
    onBatch?: (files: TargetFile[], complete: string[], domains: Map<string, TargetFile[]>) => void | Promise<void>;
  },
): Promise<{ domains: Map<string, TargetFile[]>; globals: TargetFile[]; files: number }> {
  const domainSet = new Set(want.domains);
  const globalSet = new Set(want.globals);
  const pathspec =
    want.all || want.domains.length + want.globals.length > 500
      ? []
      : [...want.domains.map((d) => `${opts.domainsDir}/${d}`), ...want.globals];
  if (!want.all && pathspec.length === 0 && want.domains.length + want.globals.length === 0)
    return { domains: new Map(), globals: [], files: 0 };
  const limits: AdmitLimits = {
    domainsDir: opts.domainsDir,
    maxFileSize: opts.maxFileSize,
    maxFiles: opts.maxFiles ?? Infinity,
  };
  const take =
    want.all && opts.top
      ? await perDomain(repo, target, opts.top, domainSet, globalSet, limits)
      : await whole(
          repo,
          target,
          pathspec.length > 0
            ? await repo.lsPaths(target, pathspec) // a partial sync: through the kept-open cat-file, no process
            : await repo.lsTree(target),
          domainSet,
          globalSet,
          limits,
        );
  // Reads are queued a batch ahead of the one handed on (cat-file answers in order, so git never
  // waits), not all at once: a full sync then holds about two batches of blobs in flight, not
  // every blob of the commit.
  const queue = (picks: Pick[]) => {
    const batch = picks.map(({ entry }) => repo.blobs.readBlob(entry.oid));
    for (const r of batch) r.catch(() => {}); // a batch that throws leaves the later ones unawaited
    return batch;
  };
  const domains = new Map<string, TargetFile[]>(want.domains.map((d) => [d, []]));
  const globals: TargetFile[] = [];
  let current = await take.next(READ_BATCH);
  let reads = queue(current);
  while (current.length > 0) {
    const next = await take.next(READ_BATCH);
    const nextReads = queue(next);
    const contents = await Promise.all(reads);
    const batch: TargetFile[] = [];
    const complete: string[] = [];
    current.forEach(({ entry, domain, last }, i) => {
      const content = contents[i];
      if (content === undefined) {
        // A blob the clone lacks (a damaged object store, or a fetch that left it out: fetch-pack
        // skips git fetch's connectivity check) is never written as an empty file.
        throw new GitfailoverError(
          'E_MISSING_OBJECT',
          `${entry.path} in commit ${target.slice(0, 12)} cannot be read: its blob ${entry.oid} is missing from this node's clone (${repo.gitDir}). Nothing was applied. Check that the remote is complete (git fsck there), move the clone aside so that the next fetch brings everything again (git does not fetch what the clone's refs say it has), then run "gitfailover sync --full"`,
          { kind: 'stalling', location: { file: entry.path, commit: target }, data: { oid: entry.oid } },
        );
      }
      const f = { path: entry.path, oid: entry.oid, content };
      batch.push(f);
      if (domain !== undefined) domains.get(domain)!.push(f);
      else globals.push(f);
      if (domain !== undefined && last) complete.push(domain);
    });
    await opts.onBatch?.(batch, complete, domains);
    current = next;
    reads = nextReads;
  }
  return { domains, globals, files: take.files() };
}

/** An entry to read, its domain, and whether it is that domain's last. */
interface Pick {
  entry: LsEntry;
  domain?: string;
  last?: boolean;
}

/** The entries to read, `n` at a time in order; `files()`: the count of the tree's files (state.files) once all are taken. */
interface Picks {
  next(n: number): Promise<Pick[]>;
  files(): number;
}

/**
 * Picks from a whole listing: the admission rules on what ls-tree says (type, mode, size, shape,
 * count), all before a byte is read.
 */
async function whole(
  repo: NodeRepo,
  target: string,
  listing: readonly LsEntry[],
  domainSet: ReadonlySet<string>,
  globalSet: ReadonlySet<string>,
  limits: AdmitLimits,
): Promise<Picks> {
  const picked: Pick[] = [];
  let other = 0;
  for (const e of listing) {
    const c = classifyPath(e.path, limits.domainsDir);
    if (c.kind === 'meta') {
      if (e.type !== 'tree' && isAdmitted(e.path)) other++;
      continue;
    }
    const domain = c.kind === 'domain' ? c.domain : undefined;
    if (domain !== undefined ? !domainSet.has(domain) : !globalSet.has(e.path)) continue;
    await admit(e, limits, target, repo);
    picked.push({ entry: e, domain });
  }
  const shape = [
    ...admitCount(picked.length, limits),
    ...admitShape(
      picked.map((p) => factsOf(p.entry)),
      limits.domainsDir,
    ),
  ];
  if (shape.length > 0) await refuse(shape[0]!, target, repo);
  picked.forEach((p, i) => {
    p.last = p.domain !== undefined && picked[i + 1]?.domain !== p.domain;
  });
  let at = 0;
  return {
    next: async (n) => picked.slice(at, (at += n)),
    files: () => picked.length + other,
  };
}

/** Domains whose trees are listed at once (pipelined on the cat-file) when more files are needed. */
const LIST_GROUP = 64;

/**
 * Picks from the top listing of a full sync: the files outside the domains folder first, then
 * each domain's files, listed when they are about to be read. The admission rules are the same;
 * those on the top (globals, the domain folders' names and shape) before a byte is read, those on
 * a domain's files before any of that domain is read, and the count as it grows: all of it
 * before anything is applied.
 */
async function perDomain(
  repo: NodeRepo,
  target: string,
  top: readonly LsEntry[],
  domainSet: ReadonlySet<string>,
  globalSet: ReadonlySet<string>,
  limits: AdmitLimits,
): Promise<Picks> {
  const prefix = `${limits.domainsDir}/`;
  const queue: Pick[] = [];
  const trees: LsEntry[] = [];
  const facts: EntryFacts[] = [];
  let other = 0;
  for (const e of top) {
    if (e.type === 'tree' && e.path.startsWith(prefix) && !e.path.includes('/', prefix.length)) {
      await admit(e, limits, target, repo);
      facts.push(factsOf(e));
      if (domainSet.has(e.path.slice(prefix.length))) trees.push(e);
      continue;
    }
    const c = classifyPath(e.path, limits.domainsDir);
    if (c.kind === 'meta') {
      if (e.type !== 'tree' && isAdmitted(e.path)) other++;
      continue;
    }
    if (!globalSet.has(e.path)) continue;
    await admit(e, limits, target, repo);
    facts.push(factsOf(e));
    queue.push({ entry: e });
  }
  let count = queue.length;
  const shape = [...admitCount(count, limits), ...admitShape(facts, limits.domainsDir)];
  if (shape.length > 0) await refuse(shape[0]!, target, repo);
  let at = 0;
  const where = `commit ${target.slice(0, 12)}`;
  return {
    async next(n) {
      while (queue.length < n && at < trees.length) {
        const group = trees.slice(at, (at += LIST_GROUP));
        const listed = await listTrees(repo.blobs, group, where);
        const picks: Pick[] = [];
        for (const e of listed) {
          await admit(e, limits, target, repo);
          const slash = e.path.indexOf('/', prefix.length);
          picks.push({ entry: e, domain: e.path.slice(prefix.length, slash) });
        }
        count += picks.length;
        const problems = [
          ...admitCount(count, limits),
          ...admitShape(
            picks.map((p) => factsOf(p.entry)),
            limits.domainsDir,
          ),
        ];
        if (problems.length > 0) await refuse(problems[0]!, target, repo);
        picks.forEach((p, i) => {
          p.last = picks[i + 1]?.domain !== p.domain;
          queue.push(p);
        });
      }
      return queue.splice(0, n);
    },
    files: () => count + other,
  };
}

/** The admission rules on what a listing says (type, mode, size) before a byte is read. */
async function admit(e: LsEntry, limits: AdmitLimits, target: string, repo: NodeRepo): Promise<void> {
  const refused = admitEntry(factsOf(e), limits);
  // The whole path, not only its faulty part: `..` alone would not say where it was.
  if (refused.length > 0) await refuse({ ...refused[0]!, file: printable(e.path) }, target, repo);
}

/** Files per batch handed to `onBatch`: big enough to keep a worker busy for a while, small enough to start early. */
export const READ_BATCH = 2000;

function factsOf(e: LsEntry): EntryFacts {
  const kind =
    e.type === 'commit' || e.mode === '160000'
      ? 'submodule'
      : e.mode === '120000'
        ? 'symlink'
        : e.type === 'tree'
          ? 'dir'
          : 'file';
  return { path: e.path, kind, mode: kind === 'file' ? parseInt(e.mode, 8) : undefined, size: e.size };
}

/**
 * Throws the standby's refusal of a commit for an admission problem. A blob refused for its size
 * was fetched as a loose object stored uncompressed (the fetch's core.looseCompression=0): the
 * clone's loose objects are packed (compressed) first, so a refused 200 MB file does not stay
 * 200 MB on disk; the history keeps it, so it cannot be dropped.
 */
async function refuse(p: Problem, commit: string, repo?: NodeRepo): Promise<never> {
  if (p.code === RULE.tooLarge && repo) await repo.repack().catch(() => {});
  throw refusal(p, commit);
}

export function refusal(
  p: Problem,
  commit: string,
  fix = 'fix it in the repo (git revert the commit) and push',
): GitfailoverError {
  return new GitfailoverError(
    p.code,
    `${p.file} in commit ${commit.slice(0, 12)}: ${p.message}. Nothing was applied; ${fix}`,
    {
      kind: 'stalling',
      location: { file: p.file, commit },
    },
  );
}

/**
 * The path rules (admit.ts) for a path of a diff, before anything is read: `git ls-tree -- <path>`
 * would itself choke on `../x` or `/x`.
 */
export function checkTargetPath(path: string, commit: string, domainsDir: string): void {
  const refused = admitPath(path, domainsDir);
  // The whole path, not only its faulty part: `..` alone would not say where it was.
  if (refused.length > 0) throw refusal({ ...refused[0]!, file: printable(path) }, commit);
}

export function checkDomainName(domain: string, commit: string, domainsDir: string): void {
  const refused = admitPath(`${domainsDir}/${domain}`, domainsDir, true);
  if (refused.length > 0) throw refusal(refused[0]!, commit);
}

/**
 * Type clashes with the live dir, found while planning: a domain to load where a file is (or where
 * the domains folder is a file), a global file where a folder is or under a file. What the plan
 * removes first is not in the way (a file that becomes a folder, a folder that becomes a file)
 * when it is what the applied commit put there: its manifest entry and the live bytes agree, an
 * interrupted apply (the journal) wrote it, or the applied commit was made from the live dir.
 * Nothing of the live dir is touched yet; the refusal names the file and the commit.
 */
export function checkLiveShape(
  liveDir: string,
  plan: { load: readonly string[]; writeGlobal: readonly string[]; removeGlobal?: readonly string[] },
  domainsDir: string,
  commit: string,
  applied: {
    /** The globals manifest; undefined: the applied commit was just made from the live dir (the primary's). */
    manifest?: () => Readonly<Record<string, string>>;
    journal: readonly string[];
  } = { manifest: () => ({}), journal: [] },
): void {
  const kindAt = (rel: string): 'dir' | 'file' | 'none' => {
    try {
      const st = lstatSync(join(liveDir, rel));
      if (st.isSymbolicLink()) link(rel);
      return st.isDirectory() ? 'dir' : 'file';
    } catch (err) {
      if (err instanceof GitfailoverError) throw err;
      return 'none';
    }
  };
  const NOT_APPLIED = 'is not in the applied commit';
  const removed = new Set(plan.removeGlobal ?? []);
  const journal = new Set(applied.journal);
  let manifest: Readonly<Record<string, string>> | undefined;
  // Why a live file the plan removes first is still in the way; undefined: it is not.
  const inTheWay = (rel: string): string | undefined => {
    if (!removed.has(rel)) return NOT_APPLIED;
    if (journal.has(rel) || !applied.manifest) return undefined;
    manifest ??= applied.manifest();
    const want = manifest[rel];
    if (want === undefined) return NOT_APPLIED;
    try {
      return gitBlobId(readFileSync(join(liveDir, rel))) === want
        ? undefined
        : 'was changed since the commit applied it';
    } catch {
      return 'cannot be read';
    }
  };
  const fixFor = (why: string) =>
    why.endsWith('not in the applied commit')
      ? 'move what is in the way out of the live dir (it is not in the applied commit), or change the commit in the repo, then sync again'
      : 'move what is in the way out of the live dir (or put back what the applied commit has there), then sync again';
  const clash = (file: string, why: string, fix = fixFor(NOT_APPLIED)) => {
    throw refusal({ file: printable(file), line: 1, col: 1, code: RULE.typeClash, message: why }, commit, fix);
  };
  function link(rel: string): never {
    throw new GitfailoverError(
      'E_OUTSIDE_LIVE_DIR',
      `${printable(rel)} is a symbolic link in the live dir ${liveDir}, where commit ${commit.slice(0, 12)} writes: nothing is written through a link (it could lead out of the live dir). Nothing was applied; remove the link, then sync again`,
      {
        kind: 'stalling',
        location: { file: printable(rel), commit },
      },
    );
  }
  const parentsOk = (rel: string) => {
    const segs = rel.split('/');
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/');
      if (kindAt(parent) !== 'file') continue;
      const why = inTheWay(parent);
      if (why)
        clash(
          rel,
          `the commit has a file under ${printable(parent)}, which is a file in the live dir ${liveDir} that ${why}`,
          fixFor(why),
        );
    }
  };
  // A live folder where the commit has a file: every file in it must go first (folders the
  // removals leave empty go with them), so an empty folder or anything else stays in the way.
  const folderInTheWay = (rel: string): { path: string; why: string } | undefined => {
    const entries = readdirSync(join(liveDir, rel), { withFileTypes: true });
    if (entries.length === 0) return undefined; // an empty folder: writeGlobal removes it
    for (const e of entries) {
      const sub = `${rel}/${e.name}`;
      if (e.isSymbolicLink()) link(sub);
      const why = e.isDirectory()
        ? readdirSync(join(liveDir, sub)).length === 0
          ? 'is an empty folder not in the applied commit'
          : undefined
        : inTheWay(sub);
      if (why) return { path: sub, why };
      if (e.isDirectory()) {
        const deeper = folderInTheWay(sub);
        if (deeper) return deeper;
      }
    }
    return undefined;
  };
  if (plan.load.length > 0 && kindAt(domainsDir) === 'file')
    clash(domainsDir, `is a file in the live dir ${liveDir}, where the commit has the domains folder`);
  for (const d of plan.load)
    if (kindAt(`${domainsDir}/${d}`) === 'file')
      clash(`${domainsDir}/${d}`, `is a file in the live dir ${liveDir}, where the commit has domain ${d}`);
  for (const g of plan.writeGlobal) {
    if (kindAt(g) === 'dir') {
      const blocker = folderInTheWay(g);
      if (blocker)
        clash(
          g,
          `is a file in the commit but a folder in the live dir ${liveDir}, and ${printable(blocker.path)} in it ${blocker.why}`,
          fixFor(blocker.why),
        );
    }
    parentsOk(g);
  }
}

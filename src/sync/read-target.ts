import { GitfailoverError } from '../errors.js';
import { classifyPath, isSafeSegment } from '../model/layout.js';
import type { LsEntry, NodeRepo } from '../repo/node-repo.js';

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
    /** The target's full recursive listing, when the caller already has it (a full sync lists once). */
    listing?: readonly LsEntry[];
    /**
     * Called with the files as they are read, in batches and in order, before the whole read
     * ends: a full sync checks the first batches on worker threads while git sends the rest.
     * `complete`: the domains whose last file is in this batch.
     */
    onBatch?: (files: TargetFile[], complete: string[]) => void;
  },
): Promise<{ domains: Map<string, TargetFile[]>; globals: TargetFile[] }> {
  const domainSet = new Set(want.domains);
  const globalSet = new Set(want.globals);
  const pathspec = want.all || want.domains.length + want.globals.length > 500 ? [] : [...want.domains.map((d) => `${opts.domainsDir}/${d}`), ...want.globals];
  if (!want.all && pathspec.length === 0 && want.domains.length + want.globals.length === 0) return { domains: new Map(), globals: [] };
  const listing = opts.listing && pathspec.length === 0 ? opts.listing : await repo.lsTree(target, pathspec);
  const picked: { entry: LsEntry; domain?: string }[] = [];
  for (const e of listing) {
    const c = classifyPath(e.path, opts.domainsDir);
    if (c.kind === 'meta') continue;
    const domain = c.kind === 'domain' ? c.domain : undefined;
    if (domain !== undefined ? !domainSet.has(domain) : !globalSet.has(e.path)) continue;
    refuseUnsafe(e, target, opts.maxFileSize);
    // A user is named by its file, and that name reaches commands as an argument: same rule as domains.
    if (c.kind === 'domain' && c.user !== undefined && !isSafeSegment(c.user)) {
      throw new GitfailoverError('E_UNSAFE_NAME', `user file ${JSON.stringify(e.path)} in commit ${target.slice(0, 12)} is not a safe name (letters, digits, ".", "_", "-", starting with a letter or digit); rename it in the repo and push`, {
        kind: 'stalling',
        location: { file: e.path, commit: target },
      });
    }
    picked.push({ entry: e, domain });
  }
  // Every read is queued at once (cat-file answers in order); batches are handed on as they complete.
  const reads = picked.map(({ entry }) => repo.blobs.readBlob(entry.oid));
  for (const r of reads) r.catch(() => {}); // a batch that throws leaves the later ones unawaited
  const domains = new Map<string, TargetFile[]>(want.domains.map((d) => [d, []]));
  const globals: TargetFile[] = [];
  const lastOf = new Map<string, number>();
  picked.forEach(({ domain }, i) => domain !== undefined && lastOf.set(domain, i));
  for (let start = 0; start < picked.length; start += READ_BATCH) {
    const end = Math.min(picked.length, start + READ_BATCH);
    const contents = await Promise.all(reads.slice(start, end));
    const batch: TargetFile[] = [];
    const complete: string[] = [];
    for (let i = start; i < end; i++) {
      const { entry, domain } = picked[i]!;
      const content = contents[i - start];
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
      if (domain !== undefined && lastOf.get(domain) === i) complete.push(domain);
    }
    opts.onBatch?.(batch, complete);
  }
  return { domains, globals };
}

/** Files per batch handed to `onBatch`: big enough to keep a worker busy for a while, small enough to start early. */
export const READ_BATCH = 2000;

function refuseUnsafe(e: LsEntry, commit: string, maxFileSize: number): void {
  const refuse = (code: string, why: string) => {
    throw new GitfailoverError(code, `${e.path} in commit ${commit.slice(0, 12)} ${why}; fix it in the repo (git revert the commit) and push`, {
      kind: 'stalling',
      location: { file: e.path, commit },
    });
  };
  if (e.type === 'commit' || e.mode === '160000') refuse('E_SUBMODULE', 'is a submodule, which is never replicated');
  if (e.mode === '120000') refuse('E_SYMLINK', 'is a symbolic link, which could point outside the live dir');
  checkTargetPath(e.path, commit);
  if (e.size > maxFileSize) refuse('E_FILE_TOO_LARGE', `is ${e.size} bytes, over the limit of ${maxFileSize} (live.maxFileSize)`);
}

/**
 * git's own control files: a checkout of them runs filter commands (.gitattributes) or clones
 * other repositories (.gitmodules). A server never reads them as configuration, so a commit that
 * carries one is refused rather than copied (nothing here checks out, but a tool an operator
 * points at the live dir might).
 */
const GIT_CONTROL_FILES = new Set(['.gitattributes', '.gitmodules']);

/**
 * Refuses a path that could write outside its place in the live dir (`..`, `.`, an empty or
 * absolute segment, a NUL, `.git`) or a git control file. Checked for every path of a diff
 * before anything is read, since `git ls-tree -- <path>` would itself choke on `../x` or `/x`.
 */
export function checkTargetPath(path: string, commit: string): void {
  const refuse = (code: string, why: string) => {
    throw new GitfailoverError(code, `${JSON.stringify(path)} in commit ${commit.slice(0, 12)} ${why}; fix it in the repo (git revert the commit) and push`, {
      kind: 'stalling',
      location: { file: path, commit },
    });
  };
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.' || seg === '..' || seg.includes('\0') || seg.toLowerCase() === '.git') {
      refuse('E_UNSAFE_PATH', 'has an unsafe path segment (empty, ".", "..", ".git" or a NUL): it could write outside its folder');
    }
    if (GIT_CONTROL_FILES.has(seg.toLowerCase())) refuse('E_GIT_CONTROL_FILE', `is a git control file (${seg}), which could make git run commands or fetch other repos; it is never replicated`);
  }
}

export function checkDomainName(domain: string, commit: string, domainsDir: string): void {
  if (!isSafeSegment(domain)) {
    throw new GitfailoverError('E_UNSAFE_NAME', `domain folder ${JSON.stringify(`${domainsDir}/${domain}`)} in commit ${commit.slice(0, 12)} is not a safe name (letters, digits, ".", "_", "-")`, {
      kind: 'stalling',
      location: { file: `${domainsDir}/${domain}`, commit },
    });
  }
}

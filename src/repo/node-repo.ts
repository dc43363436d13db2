import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { GitfailoverError } from '../errors.js';
import { BlobReader } from './blob-reader.js';
import { EMPTY_TREE, git, GitError, type GitOptions, type GitResult } from './git.js';
import { redact } from '../util/redact.js';
import { commitTreeArgs, commitTreeEnv, type CommitTreeInput } from './commit-tree.js';
import { GitIndex } from './git-index.js';
import { diffTrees } from './tree-diff.js';
import { RefUpdater } from './ref-updater.js';
import { formatCommit, writeLooseCommit } from './loose-commit.js';
import {
  HISTORY_FORMAT,
  type HistoryEntry,
  parseAuthored,
  parseHistory,
  parseLines,
  parseLsTree,
  parseMergeTree,
  parseNulList,
  parseParents,
  parseRawDiff,
  parseTrailerList,
  parseTreeObject,
  type DiffEntry,
  type LsEntry,
} from './parsers.js';
import { remoteAccess, remoteFailure, scrub, type RemoteAccess, type RemoteCredentials } from './remote-access.js';

export type { DiffEntry, LsEntry };
export { parseLsTree, parseRawDiff };
/** The empty tree's id: the "before" of a repo's first commit. */
export { EMPTY_TREE };

export interface CommitInfo {
  commit: string;
  time: string;
  author: string;
  email: string;
  subject: string;
  body: string;
}

export interface RemoteSpec extends RemoteCredentials {
  remote: string;
  branch: string;
  stateDir: string;
}

/** A git lock file untouched this long is left by a killed git, not held by a running one. */
const STALE_GIT_LOCK_MS = 2_000;
/** For the git that fetches: write loose objects stored, not deflated (see fetch()). */
const LOOSE_STORED = ['-c', 'core.looseCompression=0'];
/** The remote name `push` gives git on its command line (never written to the clone's config). */
const PUSH_REMOTE = 'gitfailover-push';

/**
 * The node's own clone in `repo.stateDir` (bare: the live dir is never a git work tree).
 * The remote URL comes from the node file on every call rather than from git config, so a
 * changed node file takes effect at once and no URL is stored on disk.
 */
export class NodeRepo {
  readonly gitDir: string;
  readonly blobs: BlobReader;
  private readonly refs_: RefUpdater;
  readonly branchRef: string;
  readonly trackingRef: string;

  constructor(readonly spec: RemoteSpec) {
    this.gitDir = join(spec.stateDir, 'repo.git');
    this.blobs = new BlobReader(this.gitDir);
    this.refs_ = new RefUpdater(this.gitDir);
    this.branchRef = `refs/heads/${spec.branch}`;
    this.trackingRef = `refs/remotes/origin/${spec.branch}`;
  }

  git(args: string[], opts: GitOptions = {}) {
    return git(args, { gitDir: this.gitDir, ...opts });
  }

  /** Create the bare clone on first use (no network). */
  async ensure(): Promise<void> {
    if (existsSync(join(this.gitDir, 'HEAD'))) return;
    mkdirSync(this.spec.stateDir, { recursive: true });
    await git(['init', '--quiet', '--bare', `--initial-branch=${this.spec.branch}`, this.gitDir]);
    // A config repo is small text: keep the clone compact and never run gc in the foreground.
    await this.git(['config', 'gc.autoDetach', 'false']);
    await this.git(['config', 'core.logAllRefUpdates', 'true']);
  }

  /**
   * Run one git command that talks to the remote, with this node's credentials on that process
   * only (built again on every call, like the URL: a changed node file or rotated token counts).
   */
  private async remoteGit(verb: string, args: string[], timeoutMs: number, config: string[] = []): Promise<GitResult> {
    const access: RemoteAccess = remoteAccess(this.spec.remote, this.spec);
    try {
      return await this.git([...access.args, ...config, verb, ...args], { timeoutMs, env: access.env });
    } catch (err) {
      if (err instanceof GitError) {
        // Defence in depth: git never prints the secret, but nothing it prints may carry one.
        err.message = scrub(err.message, access.secrets);
        for (const k of ['stderr', 'stdout'] as const) err.data[k] = scrub(String(err.data[k] ?? ''), access.secrets);
      }
      throw err;
    }
  }

  /**
   * Remove git lock files a killed git left behind (`index.lock`, `refs/heads/main.lock`, ...):
   * git refuses to run while one exists and asks a person to delete it, so one SIGKILL or power
   * cut would stop the node for good (the kill trials showed it). Call only while holding the
   * node's own state-dir lock: then no other gitfailover process uses the clone, and a lock that
   * has not changed for STALE_GIT_LOCK_MS belongs to no running git (an orphaned git child of a
   * killed process is given that long to finish). Returns the files removed.
   */
  async clearStaleLocks(extra: string[] = []): Promise<string[]> {
    const candidates = [
      ...extra,
      ...['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', 'shallow.lock', 'objects/maintenance.lock'].map(
        (f) => join(this.gitDir, f),
      ),
    ];
    const walk = (dir: string) => {
      if (!existsSync(dir)) return;
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.lock')) candidates.push(p);
      }
    };
    walk(join(this.gitDir, 'refs'));
    // A fetch-pack killed between writing its pack and our ref update leaves the pack's `.keep`.
    const packDir = join(this.gitDir, 'objects', 'pack');
    if (existsSync(packDir)) {
      for (const name of readdirSync(packDir)) {
        if (!name.endsWith('.keep')) continue;
        const file = join(packDir, name);
        try {
          if (readFileSync(file, 'utf8').startsWith('fetch-pack ')) candidates.push(file);
        } catch {
          // gone meanwhile
        }
      }
    }
    const removed: string[] = [];
    for (const file of candidates) {
      for (;;) {
        let age: number;
        try {
          age = Date.now() - statSync(file).mtimeMs;
        } catch {
          break; // gone (or never there)
        }
        if (age >= STALE_GIT_LOCK_MS) {
          rmSync(file, { force: true });
          removed.push(file);
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return removed;
  }

  /**
   * Fetch the remote branch into the tracking ref; returns its head, or undefined when the remote
   * has no such branch (the tracking ref is then deleted, as `git fetch --prune` did).
   *
   * Remotes that `git fetch-pack` reaches itself (paths, file://, ssh, scp-like, git://) are
   * fetched with it and the tracking ref is moved here; http(s) and remote helpers keep `git
   * fetch`. The difference that matters is what fetch-pack leaves out: `git fetch`'s
   * connectivity check (`rev-list --objects --stdin --not --all`), which proves that everything
   * reachable from the new head is in the clone by walking the whole old tree as well (most of a
   * fetch at 10,000 domains, and the one part of a partial sync that grew with the repo: bench/findings.md).
   * Skipping it is sound here because nothing trusts the clone blindly: every object a sync
   * applies is read through `diff-tree`, `ls-tree` or `cat-file`, which fail on a missing object
   * (read-target.ts refuses a missing blob rather than writing an empty file), and the
   * `git log applied..target` of every sync walks each new commit (the range is marked whole
   * before its -n cut). A pack that left something out is therefore refused before anything is
   * applied, never half-applied. index-pack still checks every received object and thin-pack
   * base, and `transfer.fsckObjects` applies as with `git fetch`.
   */
  async fetch(timeoutMs = 60_000): Promise<string | undefined> {
    if (!fetchPackReaches(this.spec.remote)) return this.fetchWithGitFetch(timeoutMs);
    let head: string | undefined;
    let locks: string[] = [];
    const deadline = Date.now() + timeoutMs;
    // The old head, read while the remote answers: to skip a no-op ref update (a reflog line per
    // poll). Through the kept-open cat-file that the sync or record reads with next: no process.
    const before = this.resolveRef(this.trackingRef).catch(() => undefined);
    try {
      // --lock-pack: a fetch of 100 objects or more is kept as a pack with a `.keep` file that
      // guards it until the ref names it; fetch-pack prints that file and leaves it to the caller
      // (as git fetch does, removed below). Left behind, kept packs piled up: gc never repacks them.
      // core.looseCompression=0: the few objects of a one-commit fetch are written as loose
      // objects, the largest the `domains/` tree; stored rather than deflated, unpack-objects
      // skips compressing it and diff-tree, cat-file and ls-tree skip inflating it, for more disk
      // until maintenance packs them (measured: bench/findings.md).
      const r = await this.remoteGit(
        'fetch-pack',
        ['--thin', '--no-progress', '--lock-pack', this.spec.remote, this.branchRef],
        timeoutMs,
        LOOSE_STORED,
      );
      locks = fetchPackLocks(r.stdout);
      head = parseFetchPack(r.stdout, this.branchRef);
      if (!head)
        throw new GitError(['fetch-pack', this.spec.remote, this.branchRef], {
          code: 0,
          stderr: `fetch-pack printed no ${this.branchRef}`,
          stdout: r.stdout,
        });
    } catch (err) {
      await before;
      // "no such remote ref": the remote has other branches; "no matching remote head": it has
      // none at all (a new, empty repo; protocol v0 over ssh says so).
      if (err instanceof GitError && /no such remote ref|no matching remote head/i.test(err.stderr)) {
        await this.deleteRef(this.trackingRef);
        return undefined;
      }
      throw remoteError('fetch from', this.spec, err);
    }
    const old = await before;
    if (old === head) {
      this.unlockPacks(locks); // a pack with nothing new for the ref (a re-sent one) is kept by nothing else either
    } else {
      try {
        // Not checked against the value read before the fetch: a push (this node's, or one a killed
        // process left running) may move it meanwhile, and the fetched head is the answer either way.
        await this.refs_.update(this.trackingRef, head);
      } finally {
        this.unlockPacks(locks);
      }
      // fetch-pack skips the `maintenance run --auto` that `git fetch` ends with, so loose
      // objects would pile up: run it when git's own estimate says it has work (a process per
      // fetch for a no-op would add to every sync's latency).
      // Its failure never fails the fetch: the objects are in and the ref is moved.
      if (this.mayNeedMaintenance())
        await this.git(['maintenance', 'run', '--auto', '--quiet'], {
          timeoutMs: Math.max(deadline - Date.now(), 5_000),
        }).catch(() => undefined);
    }
    return head;
  }

  /** Remove the `.keep` files fetch-pack --lock-pack left (paths as it printed them, relative to the git dir's parent when the git dir was). */
  private unlockPacks(locks: string[]): void {
    for (const lock of locks) {
      const file = resolvePath(lock);
      // Only a fetch-pack lock inside this clone's pack folder: never a path from elsewhere.
      if (dirname(file) === resolvePath(this.gitDir, 'objects', 'pack') && file.endsWith('.keep'))
        rmSync(file, { force: true });
    }
  }

  /**
   * `gc --auto`'s own estimate, without a process: more loose objects in objects/17 than
   * gc.auto (6,700) / 256, or more packs than gc.autoPackLimit (50).
   */
  private mayNeedMaintenance(): boolean {
    const count = (dir: string, test: (name: string) => boolean) => {
      try {
        return readdirSync(join(this.gitDir, 'objects', dir)).filter(test).length;
      } catch {
        return 0;
      }
    };
    return (
      count('17', (n) => /^[0-9a-f]{38,62}$/.test(n)) > Math.ceil(6700 / 256) ||
      count('pack', (n) => n.endsWith('.pack')) > 50
    );
  }

  private async fetchWithGitFetch(timeoutMs: number): Promise<string | undefined> {
    try {
      await this.remoteGit(
        'fetch',
        ['--quiet', '--no-tags', '--prune', this.spec.remote, `+${this.branchRef}:${this.trackingRef}`],
        timeoutMs,
        LOOSE_STORED,
      );
    } catch (err) {
      if (err instanceof GitError && /couldn't find remote ref/i.test(err.stderr)) {
        await this.deleteRef(this.trackingRef);
        return undefined;
      }
      throw remoteError('fetch from', this.spec, err);
    }
    return this.resolve(this.trackingRef);
  }

  /** The remote branch's head without fetching (a reachability and credentials check); undefined when it has no such branch. */
  async remoteHead(timeoutMs = 60_000): Promise<string | undefined> {
    const access = remoteAccess(this.spec.remote, this.spec);
    try {
      const r = await this.git([...access.args, 'ls-remote', '--heads', this.spec.remote, this.branchRef], {
        timeoutMs,
        env: access.env,
      });
      return r.stdout.split('\t')[0]?.trim() || undefined;
    } catch (err) {
      if (err instanceof GitError) err.data.stderr = scrub(err.stderr, access.secrets);
      throw remoteError('reach', this.spec, err);
    }
  }

  /** The remote's branches under `prefix` (`refs/heads/...`), without fetching: full ref name and commit. */
  async remoteRefs(prefix: string, timeoutMs = 60_000): Promise<{ ref: string; commit: string }[]> {
    try {
      const r = await this.remoteGit('ls-remote', ['--heads', this.spec.remote, `${prefix}*`], timeoutMs);
      return parseLines(r.stdout).map((line) => {
        const [commit, ref] = line.split('\t') as [string, string];
        return { ref, commit };
      });
    } catch (err) {
      throw remoteError('reach', this.spec, err);
    }
  }

  /**
   * Push the local branch (never forced). A non-fast-forward is a stalling error: another node
   * wrote. So is losing a race with a concurrent push, which the server reports as a ref it could
   * not lock because it moved under it ("cannot lock ref ... but expected").
   */
  async push(timeoutMs = 60_000, knownHead?: string): Promise<{ pushed: boolean; head?: string }> {
    const head = knownHead ?? (await this.resolve(this.branchRef));
    if (!head) return { pushed: false };
    try {
      // Through a remote named on the command line only (no URL is stored), whose fetch refspec
      // maps the branch to the tracking ref: git then moves the tracking ref itself after a push
      // that went through, one `update-ref` process fewer per push.
      await this.remoteGit(
        'push',
        ['--quiet', '--porcelain', PUSH_REMOTE, `${this.branchRef}:${this.branchRef}`],
        timeoutMs,
        [
          '-c',
          `remote.${PUSH_REMOTE}.url=${this.spec.remote}`,
          '-c',
          `remote.${PUSH_REMOTE}.fetch=+${this.branchRef}:${this.trackingRef}`,
        ],
      );
    } catch (err) {
      if (
        err instanceof GitError &&
        /\[rejected\]|non-fast-forward|fetch first|\(stale info\)|cannot lock ref .* but expected/.test(
          err.stderr + err.stdout,
        )
      ) {
        throw new GitfailoverError(
          'E_PUSH_REJECTED',
          `push to ${redact(this.spec.remote)} was rejected: the remote branch ${this.spec.branch} has commits this node does not have (another node wrote to the repo). Nothing was forced; run "gitfailover status" and see the failback runbook in the README.`,
          { kind: 'stalling', cause: err },
        );
      }
      throw remoteError('push to', this.spec, err, true);
    }
    return { pushed: true, head };
  }

  /**
   * Push one more ref under its own name (never forced), with this node's credentials: every
   * command that talks to the remote goes through NodeRepo, never `repo.git(['push', ...])`.
   */
  async pushRef(ref: string, timeoutMs = 60_000): Promise<void> {
    try {
      await this.remoteGit('push', ['--quiet', '--porcelain', this.spec.remote, `${ref}:${ref}`], timeoutMs);
    } catch (err) {
      throw remoteError('push to', this.spec, err, true);
    }
  }

  async resolve(rev: string): Promise<string | undefined> {
    const r = await this.git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { okCodes: [1, 128] });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  /**
   * `resolve` of a full ref name through the kept-open cat-file (no process): for the hot path of
   * a record or a sync, whose reads start that process anyway. Undefined when the ref is absent.
   */
  async resolveRef(ref: string): Promise<string | undefined> {
    const o = await this.blobs.info(`${ref}^{commit}`);
    return o?.type === 'commit' ? o.oid : undefined;
  }

  /** A commit's parents from its object (kept-open cat-file); undefined when it is not a commit here. */
  private async parentsFromObject(commit: string): Promise<{ parents: string[]; body: Buffer } | undefined> {
    const o = await this.blobs.read(commit);
    if (o?.type !== 'commit') return undefined;
    const end = o.content.indexOf('\n\n');
    const header = o.content.toString('utf8', 0, end < 0 ? o.content.length : end);
    const parents = [...header.matchAll(/^parent ([0-9a-f]{40,64})$/gm)].map((m) => m[1]!);
    return { parents, body: o.content };
  }

  /**
   * The commits of `from..to`, newest first (at most `max`), as `log` lists them. The common case
   * of a sync, `to` one commit on top of `from`, is read from the commit object (no process).
   */
  async commitsSince(from: string, to: string, max: number): Promise<CommitInfo[]> {
    const c = await this.parentsFromObject(to);
    if (c && c.parents.length === 1 && c.parents[0] === from && max >= 1) {
      const info = parseCommitObject(to, c.body);
      if (info) return [info];
    }
    return this.log(`${from}..${to}`, [], max);
  }

  /** The tree id of a commit or tree (the empty tree for undefined), through the kept-open cat-file; undefined when not found. */
  private async treeId(rev: string | undefined): Promise<string | undefined> {
    if (!rev || rev === EMPTY_TREE) return EMPTY_TREE;
    if (rev.includes('\n')) return undefined;
    const o = await this.blobs.info(`${rev}^{tree}`);
    return o?.type === 'tree' && /^[0-9a-f]{40}$/.test(o.oid) ? o.oid : undefined;
  }

  async treeOf(commit: string | undefined): Promise<string> {
    if (!commit) return EMPTY_TREE;
    // From the kept-open cat-file (a commit object starts "tree <id>"), not a spawned rev-parse:
    // every process a record or sync starts costs a few ms of latency.
    const o = await this.blobs.read(commit);
    const m = o?.type === 'commit' ? /^tree ([0-9a-f]{40,64})\n/.exec(o.content.toString('latin1', 0, 80)) : null;
    if (m) return m[1]!;
    return (await this.git(['rev-parse', `${commit}^{tree}`])).stdout.trim();
  }

  async isAncestor(ancestor: string, descendant: string): Promise<boolean> {
    // A commit is its own ancestor: the common case of a node already at the remote head.
    if (ancestor === descendant && /^[0-9a-f]{40}$/.test(ancestor)) return true;
    // A direct parent (one commit ahead, a sync's common case): read from the commit object, no process.
    if (/^[0-9a-f]{40,64}$/.test(ancestor) && (await this.parentsFromObject(descendant))?.parents.includes(ancestor))
      return true;
    const r = await this.git(['merge-base', '--is-ancestor', ancestor, descendant], { okCodes: [1] });
    return r.code === 0;
  }

  /** Number of commits in `from..to`. */
  async count(from: string | undefined, to: string): Promise<number> {
    const range = from ? `${from}..${to}` : to;
    return Number((await this.git(['rev-list', '--count', range])).stdout.trim());
  }

  /** Through the kept-open `update-ref --stdin` (ref-updater.ts): a transaction on a pipe, not a process. */
  async updateRef(ref: string, value: string, old?: string): Promise<void> {
    await this.refs_.update(ref, value, old);
  }

  async deleteRef(ref: string): Promise<void> {
    await this.git(['update-ref', '-d', ref], { okCodes: [1] });
  }

  /**
   * Net changes between two trees or commits (no rename detection: a rename is delete + add).
   * Walked in Node over trees read through the kept-open cat-file (tree-diff.ts): no process on
   * a record's or a sync's hot path; `git diff-tree` answers whatever that walk does not take.
   */
  async diff(from: string | undefined, to: string, paths: string[] = []): Promise<DiffEntry[]> {
    if (paths.every((p) => p !== '' && p !== '.' && !/[*?[\\\n]|^:|\/$|^\//.test(p))) {
      const [a, b] = await Promise.all([this.treeId(from), this.treeId(to)]);
      if (a && b) {
        const read = async (oid: string) => {
          const o = await this.blobs.read(oid);
          return o?.type === 'tree' ? o.content : undefined;
        };
        const d = await diffTrees(read, a, b, EMPTY_TREE, paths);
        if (d) return d;
      }
    }
    const r = await this.git([
      'diff-tree',
      '-r',
      '-z',
      '--raw',
      '--no-renames',
      '--no-commit-id',
      from ?? EMPTY_TREE,
      to,
      '--',
      ...paths,
    ]);
    return parseRawDiff(r.stdout);
  }

  async lsTree(rev: string, paths: string[] = [], recursive = true): Promise<LsEntry[]> {
    const r = await this.git(['ls-tree', '-z', '-l', '--full-tree', ...(recursive ? ['-r'] : []), rev, '--', ...paths]);
    return parseLsTree(r.stdout);
  }

  /**
   * `lsTree(rev, paths)` for a few explicit paths, read through the kept-open cat-file instead of
   * a spawned `ls-tree`: each path's object, the trees under it parsed here, blob sizes by `info`
   * (asked before any content, so a size check still comes before the read). The same entries
   * as `git ls-tree -r -l --full-tree rev -- paths`; each path's entries in tree order.
   */
  async lsPaths(rev: string, paths: readonly string[]): Promise<LsEntry[]> {
    if (paths.some((p) => p.includes('\n') || p === '' || p.startsWith('/') || p.endsWith('/')))
      return this.lsTree(rev, [...paths]);
    paths = outermost(paths);
    const tops = await Promise.all(paths.map((p) => this.blobs.info(`${rev}:${p}`)));
    const out: LsEntry[] = [];
    // Trees are expanded level by level; every read of a level is queued at once.
    let level: { path: string; oid: string }[] = [];
    const seen = new Set<string>();
    const order: { path: string; entries?: LsEntry[]; children?: LsEntry[] }[] = [];
    paths.forEach((p, i) => {
      const o = tops[i];
      if (seen.has(p)) return;
      seen.add(p);
      if (o?.type === 'tree') {
        level.push({ path: p, oid: o.oid });
        order.push({ path: p, children: [] });
      } else {
        // A blob or submodule named by its path (or nothing: a submodule's commit is not in the
        // clone, a deleted path is not there): its entry comes from its parent tree.
        order.push({ path: p });
      }
    });
    // The mode of a path named directly: from its parent tree's entry.
    await Promise.all(
      order
        .filter((o) => !o.children)
        .map(async (o) => {
          const slash = o.path.lastIndexOf('/');
          const t = await this.blobs.read(slash < 0 ? `${rev}^{tree}` : `${rev}:${o.path.slice(0, slash)}`);
          const name = o.path.slice(slash + 1);
          // Every entry of that name: a crafted tree listing it twice must reach the duplicate check.
          const es =
            t?.type === 'tree' ? parseTreeObject(t.content, '', t.oid.length / 2).filter((x) => x.path === name) : [];
          o.entries = es.map((e) => ({ ...e, path: o.path }));
        }),
    );
    const byDir = new Map<string, LsEntry[]>(order.filter((o) => o.children).map((o) => [o.path, o.children!]));
    while (level.length > 0) {
      const trees = await Promise.all(level.map((t) => this.blobs.read(t.oid)));
      const next: { path: string; oid: string }[] = [];
      level.forEach((t, i) => {
        const content = trees[i];
        if (content?.type !== 'tree')
          throw new GitfailoverError(
            'E_MISSING_OBJECT',
            `tree ${t.oid} (${t.path} in ${rev}) is missing from ${this.gitDir}`,
          );
        const list = byDir.get(t.path)!;
        for (const e of parseTreeObject(content.content, `${t.path}/`, t.oid.length / 2)) {
          if (e.type === 'tree') {
            const sub: LsEntry[] = [];
            byDir.set(e.path, sub);
            list.push({ ...e, size: -1 }); // placeholder: replaced by the subtree's entries below
            next.push({ path: e.path, oid: e.oid });
          } else list.push(e);
        }
      });
      level = next;
    }
    const flatten = (dir: string, into: LsEntry[]) => {
      for (const e of byDir.get(dir)!) {
        if (e.type === 'tree') flatten(e.path, into);
        else into.push(e);
      }
    };
    for (const o of order) {
      if (o.children) flatten(o.path, out);
      else if (o.entries) out.push(...o.entries);
    }
    const sizes = await Promise.all(out.map((e) => (e.type === 'blob' ? this.blobs.info(e.oid) : undefined)));
    // A blob the clone lacks keeps size 0: its read fails next, and the reader says what to do.
    out.forEach((e, i) => {
      if (e.type === 'blob') e.size = sizes[i]?.size ?? 0;
    });
    return out;
  }

  async commitInfo(rev: string): Promise<CommitInfo> {
    const r = await this.git(['log', '-1', '--format=%H%x00%aI%x00%an%x00%ae%x00%s%x00%b', rev]);
    const [commit, time, author, email, subject, body] = r.stdout.split('\0');
    return {
      commit: commit!,
      time: time!,
      author: author!,
      email: email!,
      subject: subject!,
      body: (body ?? '').trimEnd(),
    };
  }

  async log(range: string, paths: string[] = [], max?: number): Promise<CommitInfo[]> {
    const r = await this.git([
      'log',
      '-z',
      '--format=%H%x00%aI%x00%an%x00%ae%x00%s%x00%b',
      ...(max ? [`-n${max}`] : []),
      range,
      '--',
      ...paths,
    ]);
    const parts = r.stdout.split('\0');
    const out: CommitInfo[] = [];
    for (let i = 0; i + 5 < parts.length; i += 6) {
      out.push({
        commit: parts[i]!.replace(/^\n/, ''),
        time: parts[i + 1]!,
        author: parts[i + 2]!,
        email: parts[i + 3]!,
        subject: parts[i + 4]!,
        body: parts[i + 5]!.trimEnd(),
      });
    }
    return out;
  }

  /** A private index of this clone (GIT_INDEX_FILE = `file`). */
  index(file: string): GitIndex {
    return new GitIndex((args, opts) => this.git(args, opts), file);
  }

  /** `content` into the object store; its blob id. */
  async hashObject(content: string | Buffer): Promise<string> {
    return (await this.git(['hash-object', '-w', '--stdin'], { input: content })).stdout.trim();
  }

  /** Blob ids of files on disk with one git process, stored when `write`; no filters (bytes as they are). */
  async hashFiles(paths: readonly string[], opts: { write: boolean }): Promise<string[]> {
    if (paths.length === 0) return [];
    const r = await this.git(['hash-object', ...(opts.write ? ['-w'] : []), '--no-filters', '--stdin-paths'], {
      input: `${paths.join('\n')}\n`,
    });
    return parseLines(r.stdout);
  }

  /** Every commit gitfailover writes goes through here: tree, parents, message on stdin, identities, signature. */
  async commitTree(c: CommitTreeInput): Promise<string> {
    // Written here, byte for byte what commit-tree writes (loose-commit.ts): one process fewer per
    // record. A signed commit, a pinned date or an unusual identity still goes through git.
    const committer = c.committer ?? {
      name: process.env.GIT_COMMITTER_NAME ?? 'gitfailover',
      email: process.env.GIT_COMMITTER_EMAIL ?? 'gitfailover@localhost',
    };
    const pinned = process.env.GIT_AUTHOR_DATE !== undefined || process.env.GIT_COMMITTER_DATE !== undefined;
    const body = pinned ? undefined : formatCommit(c, committer);
    if (body && (await this.allPresent([c.tree, ...c.parents]))) return writeLooseCommit(this.gitDir, body);
    const r = await this.git(commitTreeArgs(c), { input: c.message, env: commitTreeEnv(c) });
    return r.stdout.trim();
  }

  /** Whether every id names an object of the clone (commit-tree's own check before it writes). */
  private async allPresent(ids: readonly string[]): Promise<boolean> {
    const found = await Promise.all(ids.map((id) => (id === EMPTY_TREE ? { type: 'tree' } : this.blobs.info(id))));
    return found.every((o, i) => o !== undefined && o.type === (i === 0 ? 'tree' : 'commit'));
  }

  async parentsOf(commit: string): Promise<string[]> {
    return parseParents((await this.git(['rev-list', '--parents', '-n1', commit])).stdout);
  }

  /** The best common ancestor; undefined when the histories share none. */
  async mergeBase(a: string, b: string): Promise<string | undefined> {
    return (await this.git(['merge-base', a, b], { okCodes: [1] })).stdout.trim() || undefined;
  }

  async revList(range: string, opts: { reverse?: boolean; firstParent?: boolean } = {}): Promise<string[]> {
    const flags = [...(opts.reverse ? ['--reverse'] : []), ...(opts.firstParent ? ['--first-parent'] : [])];
    return parseLines((await this.git(['rev-list', ...flags, range])).stdout);
  }

  /** The committer time in seconds; undefined when the commit is not in the clone. */
  async commitTime(commit: string): Promise<number | undefined> {
    // From the commit object through the kept-open cat-file: a daemon's status snapshot asks after every record.
    const o = await this.blobs.read(commit).catch(() => undefined);
    const m = o?.type === 'commit' ? /^committer .* (\d+) [+-]\d{4}$/m.exec(o.content.toString('utf8')) : null;
    if (m) return Number(m[1]);
    const r = await this.git(['show', '-s', '--format=%ct', commit]).catch(() => undefined);
    const t = Number(r?.stdout.trim());
    return r && Number.isFinite(t) ? t : undefined;
  }

  /** Paths that differ between two trees or commits. */
  async diffNames(from: string | undefined, to: string): Promise<string[]> {
    const r = await this.git(['diff-tree', '-r', '-z', '--name-only', '--no-renames', from ?? EMPTY_TREE, to]);
    return parseNulList(r.stdout);
  }

  /** A three-way merge of two commits without a work tree; `conflicts` lists the files that did not merge. */
  async mergeTree(ours: string, theirs: string): Promise<{ tree: string; conflicts?: string[] }> {
    const r = await this.git(['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs], {
      okCodes: [1],
    });
    return parseMergeTree(r.stdout, r.code);
  }

  /**
   * `git merge-file -p` of three files labelled live/base/repo: `code` is the number of conflicts
   * (0 merged), 128 and over when git could not merge at all.
   */
  async mergeFile(ours: string, base: string, theirs: string): Promise<{ code: number; merged: Buffer }> {
    const r = await this.git(['merge-file', '-p', '-L', 'live', '-L', 'base', '-L', 'repo', ours, base, theirs], {
      okCodes: Array.from({ length: 255 }, (_, i) => i + 1),
    });
    return { code: r.code, merged: r.stdoutBuf };
  }

  /** Pack loose objects (after a refused oversized blob was written, so it does not linger loose). */
  async repack(): Promise<void> {
    await this.git(['repack', '-d', '-q']);
  }

  /** The values of trailer `key` in the newest commit of `rev` that has one. */
  async lastTrailer(rev: string, key: string): Promise<string[] | undefined> {
    const r = await this.git([
      'log',
      '-1',
      `--format=%(trailers:key=${key},valueonly,separator=%x2C)`,
      `--grep=^${key}:`,
      rev,
    ]);
    return parseTrailerList(r.stdout);
  }

  /** A commit's author (with its date) and whole message, to write it again elsewhere. */
  async authored(commit: string): Promise<ReturnType<typeof parseAuthored>> {
    return parseAuthored((await this.git(['log', '-1', '--format=%an%x00%ae%x00%aI%x00%B', commit])).stdout);
  }

  /** The audit trail from `head`, newest first, of the commits that touch `paths`. */
  async history(
    head: string,
    opts: { since?: string; max?: number; paths?: readonly string[] } = {},
  ): Promise<HistoryEntry[]> {
    const r = await this.git([
      'log',
      HISTORY_FORMAT,
      ...(opts.since ? [`--since=${opts.since}`] : []),
      ...(opts.max ? [`--max-count=${opts.max}`] : []),
      head,
      '--',
      ...(opts.paths ?? []),
    ]);
    return parseHistory(r.stdout);
  }

  /** Branches under `prefix` (`refs/heads/...`): full ref name and commit. */
  async refs(prefix: string): Promise<{ ref: string; commit: string }[]> {
    const r = await this.git(['for-each-ref', '--format=%(refname)%00%(objectname)', prefix]);
    return parseLines(r.stdout).map((line) => {
      const [ref, commit] = line.split('\0') as [string, string];
      return { ref, commit };
    });
  }

  close(): void {
    this.blobs.close();
    this.refs_.close();
  }
}

/**
 * `log --format=%H %aI %an %ae %s %b` of one commit, from its raw object: undefined when git would
 * re-encode it (an `encoding` header) or the author line is not the usual shape.
 */
export function parseCommitObject(commit: string, raw: Buffer): CommitInfo | undefined {
  const text = raw.toString('utf8');
  const end = text.indexOf('\n\n');
  const header = end < 0 ? text : text.slice(0, end);
  if (/^encoding /m.test(header)) return undefined;
  const a = /^author (.*) <([^>]*)> (\d+) ([+-])(\d\d)(\d\d)$/m.exec(header);
  if (!a) return undefined;
  const [, name, email, secs, sign, hh, mm] = a;
  const offsetMin = (sign === '-' ? -1 : 1) * (Number(hh) * 60 + Number(mm));
  const local = new Date((Number(secs) + offsetMin * 60) * 1000).toISOString().slice(0, 19);
  const time = `${local}${sign}${hh}:${mm}`;
  // git's subject: the first paragraph, its lines joined by spaces; the body: what follows it.
  const lines = (end < 0 ? '' : text.slice(end + 2)).split('\n');
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  const subject: string[] = [];
  while (i < lines.length && lines[i]!.trim() !== '') subject.push(lines[i++]!.trim());
  while (i < lines.length && lines[i]!.trim() === '') i++;
  return {
    commit,
    time,
    author: name!,
    email: email!,
    subject: subject.join(' '),
    body: lines.slice(i).join('\n').trimEnd(),
  };
}

/**
 * Whether `git fetch-pack` can reach `remote` on its own: a path, file://, ssh (URL or scp-like
 * `[user@]host:path`) or git://. Not http(s) (fetch-pack does not speak it), ftp(s), or a remote
 * helper (`helper::address`): those go through `git fetch`.
 */
export function fetchPackReaches(remote: string): boolean {
  if (remote.includes('::')) return false;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(remote)?.[1]?.toLowerCase();
  if (scheme !== undefined) return ['file', 'ssh', 'git+ssh', 'ssh+git', 'git'].includes(scheme);
  return true; // a path or scp-like
}

/** The `.keep` files `git fetch-pack --lock-pack` printed (`lock <path>` lines). */
export function fetchPackLocks(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('lock '))
    .map((l) => l.slice('lock '.length));
}

/** The head fetch-pack printed for `ref` (its stdout is `<oid> <ref>` lines). */
export function parseFetchPack(out: string, ref: string): string | undefined {
  for (const line of out.split('\n')) {
    const [oid, name] = line.trim().split(/\s+/);
    if (name === ref && oid && /^[0-9a-f]{40,64}$/.test(oid)) return oid;
  }
  return undefined;
}

function remoteError(what: string, spec: RemoteSpec, err: unknown, write = false): GitfailoverError {
  if (err instanceof GitfailoverError && err.code !== 'E_GIT') return err;
  const remote = redact(spec.remote);
  const detail =
    err instanceof GitError ? redact(err.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' / ')) : String(err);
  // Refused credentials or host keys do not heal by retrying: a person must act (stalling).
  const failure = err instanceof GitError ? remoteFailure(err.stderr, spec, write) : undefined;
  if (failure) {
    return new GitfailoverError(failure.code, `cannot ${what} ${remote}: ${failure.hint} (git said: ${detail})`, {
      kind: 'stalling',
      cause: err,
      data: { remote },
    });
  }
  return new GitfailoverError('E_REMOTE', `cannot ${what} ${remote}: ${detail}`, {
    kind: 'waiting',
    cause: err,
    data: { remote },
  });
}

/**
 * The paths without those inside another one listed (and without repeats): like `ls-tree`'s
 * pathspecs, `domains` and `domains/acme` together list each file of acme once.
 */
function outermost(paths: readonly string[]): string[] {
  const all = new Set(paths);
  return [...all].filter((p) => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (all.has(p.slice(0, i))) return false;
    return true;
  });
}

import { readFileSync } from 'node:fs';
import { readIndexFile } from './index-file.js';
import type { GitOptions, GitResult } from './git.js';
import { EMPTY_TREE } from './git.js';
import {
  type DiffEntry,
  parseLsFilesStage,
  parseLsFilesTagged,
  parseNulList,
  parseRawDiff,
  type StagedEntry,
} from './parsers.js';

type RunGit = (args: string[], opts?: GitOptions) => Promise<GitResult>;

/** One `update-index --index-info` entry; `remove` takes the path out of the index. */
export type IndexEntry = { mode: string; oid: string; path: string } | { remove: true; path: string };

const ZERO_OID = '0'.repeat(40);

/** `update-index -z --index-info` input: `<mode> <oid>\t<path>` records, mode 0 removes. */
export function indexInfo(entries: readonly IndexEntry[]): string {
  return `${entries.map((e) => ('remove' in e ? `0 ${ZERO_OID}\t${e.path}` : `${e.mode} ${e.oid}\t${e.path}`)).join('\0')}\0`;
}

/**
 * A private index file of the node's bare clone (GIT_INDEX_FILE): the record index, or a
 * throw-away one for a role commit, a merge, a secrets commit. Paths are read from `workTree`
 * (the live dir) only where a method takes one: the live dir is never a git work tree.
 */
export class GitIndex {
  constructor(
    private readonly run: RunGit,
    readonly file: string,
  ) {}

  private git(args: string[], opts: GitOptions = {}): Promise<GitResult> {
    return this.run(args, { ...opts, env: { ...opts.env, GIT_INDEX_FILE: this.file } });
  }

  /** The index holds `rev`'s tree (empty when undefined); `merge` keeps the stat cache of unchanged files. */
  async readTree(rev: string | undefined, opts: { merge?: boolean } = {}): Promise<void> {
    await this.git(rev ? ['read-tree', ...(opts.merge ? ['-m'] : []), rev] : ['read-tree', '--empty']);
  }

  async writeTree(): Promise<string> {
    return (await this.git(['write-tree'])).stdout.trim();
  }

  async update(entries: readonly IndexEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.git(['update-index', '-z', '--index-info'], { input: indexInfo(entries) });
  }

  /** `content` into the object store and into the index at `path` (a regular file). */
  async hashAndStage(path: string, content: string | Buffer): Promise<string> {
    const oid = (await this.run(['hash-object', '-w', '--stdin'], { input: content })).stdout.trim();
    await this.git(['update-index', '--add', '--cacheinfo', `100644,${oid},${path}`]);
    return oid;
  }

  /** `git add -A -- <pathspecs>` from `workTree`. */
  async addAll(workTree: string, pathspecs: readonly string[]): Promise<void> {
    await this.git(['add', '-A', '--', ...pathspecs], { workTree });
  }

  /** `git add -A` of pathspecs given on stdin (no argv length limit). */
  async addPathspecs(workTree: string, pathspecs: readonly string[]): Promise<void> {
    await this.git(['add', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], {
      workTree,
      input: pathspecs.join('\0'),
    });
  }

  /** Out of the index, kept in the work tree: the paths are literal. */
  async removeCached(paths: readonly string[]): Promise<void> {
    if (paths.length === 0) return;
    await this.git(['rm', '--cached', '--quiet', '--pathspec-from-file=-', '--pathspec-file-nul'], {
      env: { GIT_LITERAL_PATHSPECS: '1' },
      input: paths.join('\0'),
    });
  }

  /** Every path in the index. */
  async paths(pathspecs: readonly string[] = []): Promise<string[]> {
    const spec = pathspecs.length > 0 ? ['--cached', '--', ...pathspecs] : [];
    return parseNulList((await this.git(['ls-files', '-z', ...spec])).stdout);
  }

  /** How many entries the index holds: from the file itself (index-file.ts), else `ls-files`. */
  async count(): Promise<number> {
    return this.read()?.count ?? (await this.paths()).length;
  }

  /** The entries whose path ends with `suffix` (`ls-files --stage -- '**\/*<suffix>'`), read from the file when it can be. */
  async stagedEndingWith(suffix: string): Promise<StagedEntry[]> {
    return this.read(suffix)?.matching ?? (await this.staged([`:(top,glob)**/*${suffix}`]));
  }

  private read(suffix = '\0'): ReturnType<typeof readIndexFile> {
    let buf: Buffer;
    try {
      buf = readFileSync(this.file);
    } catch {
      return undefined; // no index yet: git answers
    }
    return readIndexFile(buf, suffix);
  }

  async staged(pathspecs: readonly string[]): Promise<StagedEntry[]> {
    return parseLsFilesStage((await this.git(['ls-files', '-z', '--stage', '--', ...pathspecs])).stdout);
  }

  /** Files of `workTree` the index does not hold, minus ignored ones (info/exclude). */
  async untracked(workTree: string, pathspecs: readonly string[]): Promise<string[]> {
    const r = await this.git(['ls-files', '-z', '--others', '--exclude-standard', '--', ...pathspecs], { workTree });
    return parseNulList(r.stdout);
  }

  /** One scan of `workTree` for both the untracked and the modified files. */
  async changedFiles(
    workTree: string,
    pathspecs: readonly string[],
  ): Promise<{ untracked: string[]; modified: string[] }> {
    const r = await this.git(
      ['ls-files', '-z', '-t', '--others', '--modified', '--exclude-standard', '--', ...pathspecs],
      {
        workTree,
      },
    );
    return parseLsFilesTagged(r.stdout);
  }

  /** What the index changes against `base` (a commit or tree; the empty tree when undefined). */
  async diffCached(base: string | undefined): Promise<DiffEntry[]> {
    const r = await this.git(['diff-index', '--cached', '-r', '-z', '--raw', '--no-renames', base ?? EMPTY_TREE]);
    return parseRawDiff(r.stdout);
  }
}

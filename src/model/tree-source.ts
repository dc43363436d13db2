import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { cmp, isModelFile, type ModelEntry } from './parse.js';
import { DEFAULT_DOMAINS_DIR } from './layout.js';
import { decodeUtf8 } from './admit.js';

/**
 * A tree of files to validate or model, wherever it lives: a directory on disk (here), a git
 * commit (src/repo). Both list the same kinds of entries and read the same bytes, so validate and
 * the model do not care where a tree comes from.
 */
export interface TreeEntry {
  /** `/`-separated, relative to the tree's root, never starting with `/`. */
  path: string;
  type: 'file' | 'symlink' | 'submodule' | 'dir';
  /** Bytes (0 for dirs and submodules). */
  size: number;
  /** Unix mode as git or stat report it (e.g. 0o100644). */
  mode: number;
  /** Git blob id when the source knows it without reading (a git tree); else computed on read. */
  id?: string;
}

export interface TreeSource {
  /** Every entry, dirs included, sorted by path. */
  list(): Promise<TreeEntry[]>;
  /** A file's content. Refuses anything that is not a regular file of the tree. */
  read(path: string): Promise<Buffer>;
}

/** The git blob id of a content (`git hash-object`), so ids from disk and from git agree. */
export function gitBlobId(buf: Buffer): string {
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

export interface DirTreeOptions {
  /** Globs (picomatch, dotfiles included) of paths to leave out, e.g. `data/**`. */
  exclude?: readonly string[];
}

/**
 * A directory as a tree. `.git` at the root is left out (it is the repo, not its content); a
 * nested folder with its own `.git` is reported as a submodule and not walked. Symlinks are
 * listed, never followed.
 */
export function dirTreeSource(dir: string, opts: DirTreeOptions = {}): TreeSource {
  const excluded = opts.exclude && opts.exclude.length > 0 ? picomatch([...opts.exclude], { dot: true }) : () => false;

  async function walk(rel: string, out: TreeEntry[]): Promise<void> {
    const names = (await readdir(rel ? join(dir, rel) : dir))
      .sort(cmp)
      .filter((name) => (rel || name !== '.git') && !excluded(rel ? `${rel}/${name}` : name));
    // One folder's lstats at once: one at a time, 220,000 of them kept `validate` waiting on the
    // thread pool for seconds.
    const stats = await Promise.all(names.map((name) => lstat(join(dir, rel, name))));
    const nested = await Promise.all(
      names.map((name, i) => (stats[i]!.isDirectory() ? exists(join(dir, rel, name, '.git')) : false)),
    );
    for (const [i, name] of names.entries()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = stats[i]!;
      if (st.isSymbolicLink()) out.push({ path, type: 'symlink', size: st.size, mode: st.mode });
      else if (st.isDirectory()) {
        if (nested[i]) {
          out.push({ path, type: 'submodule', size: 0, mode: st.mode });
          continue;
        }
        out.push({ path, type: 'dir', size: 0, mode: st.mode });
        await walk(path, out);
      } else if (st.isFile()) out.push({ path, type: 'file', size: st.size, mode: st.mode });
      // Sockets, fifos and devices are not configuration: they are not listed at all.
    }
  }

  return {
    async list() {
      const out: TreeEntry[] = [];
      await walk('', out);
      return out.sort((a, b) => cmp(a.path, b.path));
    },
    async read(path: string) {
      const parts = path.split('/');
      if (path.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\0'))) {
        throw new Error(`refusing to read ${JSON.stringify(path)}: not a plain path inside the tree`);
      }
      // O_NOFOLLOW: a symlink swapped in after list() is refused, not followed out of the tree.
      const fh = await open(join(dir, ...parts), constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        return await fh.readFile();
      } finally {
        await fh.close();
      }
    },
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The entries a model is built from: every regular file up to `maxFileSize` with its blob id,
 * and the text of the layout's YAML files. Larger files and non-files are skipped here;
 * validateTree reports them.
 */
export async function readModelEntries(
  source: TreeSource,
  opts: { domainsDir?: string; maxFileSize?: number; entries?: TreeEntry[] } = {},
): Promise<ModelEntry[]> {
  const domainsDir = opts.domainsDir ?? DEFAULT_DOMAINS_DIR;
  const max = opts.maxFileSize ?? Infinity;
  const files = (opts.entries ?? (await source.list())).filter((e) => e.type === 'file' && e.size <= max);
  const out: ModelEntry[] = new Array<ModelEntry>(files.length);
  const entryOf = async (e: TreeEntry): Promise<ModelEntry> => {
    const model = isModelFile(e.path, domainsDir);
    if (!model && e.id) return { path: e.path, id: e.id };
    const buf = await source.read(e.path);
    return model
      ? { path: e.path, id: e.id ?? gitBlobId(buf), text: decodeUtf8(buf) }
      : { path: e.path, id: gitBlobId(buf) };
  };
  await forEachConcurrently(files, async (e, i) => {
    out[i] = await entryOf(e);
  });
  return out;
}

/**
 * Run `fn` over `items` with several calls in flight: reading files one at a time left the CPU
 * idle a third of `validate` (each read is four thread-pool round trips: open, fstat, read,
 * close). Calls start in the items' order.
 */
export async function forEachConcurrently<T>(
  items: readonly T[],
  fn: (item: T, index: number) => Promise<void>,
  inFlight = 16,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, items.length) }, worker));
}

/** Strict UTF-8: the admission rules' decoder (admit.ts), here for the readers of trees. */
export { decodeUtf8 } from './admit.js';

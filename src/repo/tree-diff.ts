import type { DiffEntry } from './parsers.js';

/** Reads a tree object's raw content by id; undefined when it is not a tree in the clone. */
export type ReadTree = (oid: string) => Promise<Buffer | undefined>;

interface TreeItem {
  /** The name as raw bytes in latin1 (one char per byte): git's sort order is byte order. */
  raw: string;
  mode: string;
  oid: string;
  isTree: boolean;
}

/** The tree or the diff is not one this walk reproduces exactly: the caller asks `git diff-tree`. */
class Unsupported extends Error {}

/**
 * A diff that reads more trees than this (thousands of domains added or removed at once) is left
 * to one `git diff-tree`: a round trip per tree on the pipe costs more than the process then.
 */
const MAX_TREES = 256;

/**
 * A tree object larger than this (a domains folder of about a thousand entries and up) is left to
 * `git diff-tree` too: parsing every entry in Node costs more than the process for a big flat tree.
 */
const MAX_TREE_BYTES = 32 * 1024;

/**
 * `git diff-tree -r --raw --no-renames <from> <to> -- <paths>` computed from tree objects read
 * through the kept-open cat-file: no process. Equal subtrees (the same id) are skipped, so the
 * cost follows the change, as git's own walk does. `paths` are literal path prefixes (a path or
 * a folder). Returns undefined when the answer might differ from git's (a missing or malformed
 * tree, entries out of git's order or listed twice, as a crafted commit could hold) or when it
 * would read more than MAX_TREES trees or a tree over MAX_TREE_BYTES: then the caller runs git itself, whose errors and
 * refusals stay as they were.
 */
export async function diffTrees(
  read: ReadTree,
  from: string,
  to: string,
  emptyTree: string,
  paths: readonly string[] = [],
): Promise<DiffEntry[] | undefined> {
  const idBytes = to.length / 2;
  const zero = '0'.repeat(to.length);
  const wantDir = (dir: string) =>
    paths.length === 0 || paths.some((p) => p === dir || p.startsWith(`${dir}/`) || dir.startsWith(`${p}/`));
  const wantFile = (path: string) => paths.length === 0 || paths.some((p) => p === path || path.startsWith(`${p}/`));

  let treesRead = 0;
  const items = async (oid: string | undefined): Promise<TreeItem[]> => {
    if (!oid || oid === emptyTree) return [];
    if (++treesRead > MAX_TREES) throw new Unsupported();
    const content = await read(oid);
    if (!content || content.length > MAX_TREE_BYTES) throw new Unsupported();
    return parseItems(content, idBytes);
  };

  const walk = async (prefix: string, a: string | undefined, b: string | undefined): Promise<DiffEntry[]> => {
    const [left, right] = await Promise.all([items(a), items(b)]);
    const parts: (DiffEntry | Promise<DiffEntry[]>)[] = [];
    let i = 0;
    let j = 0;
    while (i < left.length || j < right.length) {
      const l = left[i];
      const r = right[j];
      const order = !l ? 1 : !r ? -1 : compareKeys(l, r);
      const one = order < 0 ? l! : order > 0 ? r! : undefined;
      if (one) {
        if (order < 0) i++;
        else j++;
        const path = prefix + utf8(one.raw);
        if (one.isTree) {
          if (wantDir(path))
            parts.push(order < 0 ? walk(`${path}/`, one.oid, undefined) : walk(`${path}/`, undefined, one.oid));
        } else if (wantFile(path)) {
          parts.push(
            order < 0
              ? { status: 'D', path, oldOid: one.oid, newOid: zero, oldMode: one.mode, newMode: '000000' }
              : { status: 'A', path, oldOid: zero, newOid: one.oid, oldMode: '000000', newMode: one.mode },
          );
        }
        continue;
      }
      i++;
      j++;
      if (l!.oid === r!.oid && l!.mode === r!.mode) continue;
      const path = prefix + utf8(l!.raw);
      if (l!.isTree) {
        if (wantDir(path)) parts.push(walk(`${path}/`, l!.oid, r!.oid));
        continue;
      }
      if (!wantFile(path)) continue;
      // A regular file's mode change is a modification; a file <-> symlink <-> submodule one a type change.
      const status = fileType(l!.mode) === fileType(r!.mode) ? 'M' : 'T';
      parts.push({ status, path, oldOid: l!.oid, newOid: r!.oid, oldMode: l!.mode, newMode: r!.mode });
    }
    const out: DiffEntry[] = [];
    for (const p of await Promise.all(parts)) {
      if (Array.isArray(p)) out.push(...p);
      else out.push(p);
    }
    return out;
  };

  try {
    return await walk('', from, to);
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

const CANONICAL_MODES = new Set(['40000', '100644', '100755', '120000', '160000']);

/** A tree's entries in stored order; out of git's order or repeated is Unsupported. */
function parseItems(content: Buffer, idBytes: number): TreeItem[] {
  const out: TreeItem[] = [];
  let i = 0;
  while (i < content.length) {
    const sp = content.indexOf(32, i);
    const nul = sp < 0 ? -1 : content.indexOf(0, sp + 1);
    if (sp < 0 || nul < 0 || nul + 1 + idBytes > content.length) throw new Unsupported();
    const rawMode = content.toString('latin1', i, sp);
    // Only the modes git writes: an old or odd one git would canonicalise in its own way.
    if (!CANONICAL_MODES.has(rawMode)) throw new Unsupported();
    const item: TreeItem = {
      raw: content.toString('latin1', sp + 1, nul),
      mode: rawMode.padStart(6, '0'),
      oid: content.toString('hex', nul + 1, nul + 1 + idBytes),
      isTree: rawMode === '40000',
    };
    const prev = out[out.length - 1];
    if (item.raw === '' || (prev && compareKeys(prev, item) >= 0)) throw new Unsupported();
    out.push(item);
    i = nul + 1 + idBytes;
  }
  return out;
}

/** git's tree order: names compared bytewise, a tree's name as if it ended in '/'. */
function compareKeys(a: TreeItem, b: TreeItem): number {
  const ka = a.isTree ? `${a.raw}/` : a.raw;
  const kb = b.isTree ? `${b.raw}/` : b.raw;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function fileType(mode: string): string {
  return mode.slice(0, 2) === '10' ? '10' : mode.slice(0, 3);
}

function utf8(raw: string): string {
  return Buffer.from(raw, 'latin1').toString('utf8');
}

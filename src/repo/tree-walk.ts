import { GitfailoverError } from '../errors.js';
import type { BlobReader } from './blob-reader.js';
import { parseTreeObject, type LsEntry } from './parsers.js';

/**
 * Recursive listings of trees given by object id, read through the kept-open cat-file (no
 * `ls-tree` process): the entries of `git ls-tree -r -l` under each root, in the same order, with
 * blob sizes asked by `info` before any content is read (a size check still comes first).
 *
 * `keep`: a folder whose sub-folders are listed as entries of type `tree` (size -1), not walked.
 * A full sync lists the commit's top with `keep` = the domains folder, then each domain's files
 * when its turn comes, so that no structure the size of the whole commit is ever held.
 */
export async function listTrees(
  blobs: BlobReader,
  roots: readonly { path: string; oid: string }[],
  where: string,
  keep?: string,
): Promise<LsEntry[]> {
  const byDir = new Map<string, LsEntry[]>();
  let level = roots.map((r) => ({ path: r.path, oid: r.oid }));
  for (const r of roots) byDir.set(r.path, []);
  while (level.length > 0) {
    const trees = await Promise.all(level.map((t) => blobs.read(t.oid)));
    const next: { path: string; oid: string }[] = [];
    level.forEach((t, i) => {
      const content = trees[i];
      if (content?.type !== 'tree')
        throw new GitfailoverError(
          'E_MISSING_OBJECT',
          `tree ${t.oid} (${t.path || 'the top folder'} in ${where}) is missing from this node's clone: move the clone aside so that the next fetch brings everything again, then run "gitfailover sync --full"`,
          { kind: 'stalling', data: { oid: t.oid } },
        );
      const list = byDir.get(t.path)!;
      for (const e of parseTreeObject(content.content, t.path === '' ? '' : `${t.path}/`, t.oid.length / 2)) {
        if (e.type === 'tree' && t.path !== keep) {
          // A folder listed twice (a crafted tree): both copies' files land under the one path,
          // listed once per copy, so the duplicate check still sees them.
          if (!byDir.has(e.path)) byDir.set(e.path, []);
          next.push({ path: e.path, oid: e.oid });
          list.push({ ...e, size: -2 }); // placeholder: replaced by the folder's entries below
        } else list.push(e.type === 'tree' ? { ...e, size: -1 } : e);
      }
    });
    level = next;
  }
  const out: LsEntry[] = [];
  const flatten = (dir: string) => {
    for (const e of byDir.get(dir)!) {
      if (e.size === -2) flatten(e.path);
      else out.push(e);
    }
  };
  for (const r of roots) flatten(r.path);
  const sizes = await Promise.all(out.map((e) => (e.type === 'blob' ? blobs.info(e.oid) : undefined)));
  // A blob the clone lacks keeps size 0: its read fails next, and that error says what to do.
  out.forEach((e, i) => {
    if (e.type === 'blob') e.size = sizes[i]?.size ?? 0;
  });
  return out;
}

/** The id of a commit's top tree, or undefined when the clone lacks the commit. */
export async function rootTree(blobs: BlobReader, rev: string): Promise<string | undefined> {
  const o = await blobs.info(`${rev}^{tree}`);
  return o?.type === 'tree' ? o.oid : undefined;
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainOf } from '../model/layout.js';
import type { IndexEntry } from '../repo/git-index.js';
import type { DiffEntry, NodeRepo } from '../repo/node-repo.js';

/** A file both sides changed in ways that do not merge: the incoming version is kept. */
export interface MergeConflict {
  path: string;
  /** why it did not merge, in a few words */
  reason: string;
}

export interface TreeMerge {
  tree: string;
  conflicts: MergeConflict[];
}

const REGULAR = new Set(['100644', '100755']);

/**
 * Three-way merge of two trees that share `base`, file by file: a file only one side changed
 * takes that side's version; a text file both changed is merged as `git merge-file` does; any
 * other file both changed differently (content conflict, delete/modify, add/add, binary) keeps
 * `theirs` and is reported. `theirs` is the remote's side: what others already see is never
 * changed under them, and the losing version stays in git (see incoming.ts).
 * A domain `theirs` deleted stays deleted: a file added or changed under it only on our side is
 * a conflict too (not a one-sided change that would bring the domain back with one file).
 * Works on a throw-away index (`indexFile`), so neither the live dir nor the record index moves.
 */
export async function mergeTrees(
  repo: NodeRepo,
  base: string,
  ours: string,
  theirs: string,
  indexFile: string,
  domainsDir?: string,
): Promise<TreeMerge> {
  if (ours === base || ours === theirs) return { tree: theirs, conflicts: [] };
  if (theirs === base) return { tree: ours, conflicts: [] };
  const [mine, others] = await Promise.all([repo.diff(base, ours), repo.diff(base, theirs)]);
  const theirsByPath = new Map(others.map((d) => [d.path, d]));
  const index = repo.index(indexFile);
  await index.readTree(theirs);
  const updates: IndexEntry[] = [];
  const conflicts: MergeConflict[] = [];
  const deletedDomain =
    domainsDir === undefined ? () => Promise.resolve(undefined) : domainsDeletedIn(repo, theirs, others, domainsDir);
  for (const d of mine) {
    const t = theirsByPath.get(d.path);
    const gone = !t && d.status !== 'D' ? await deletedDomain(d.path) : undefined;
    if (gone !== undefined) {
      conflicts.push({
        path: d.path,
        reason: `${d.status === 'A' ? 'added' : 'changed'} here, domain ${gone} deleted in the repo`,
      });
      continue;
    }
    if (!t) {
      updates.push(
        d.status === 'D' ? { remove: true, path: d.path } : { mode: d.newMode, oid: d.newOid, path: d.path },
      );
      continue;
    }
    if (t.newOid === d.newOid && t.newMode === d.newMode) continue; // both made the same change
    const merged =
      d.status === 'M' && t.status === 'M' && REGULAR.has(d.newMode) && REGULAR.has(t.newMode)
        ? await mergeFile(repo, d, t)
        : undefined;
    if (merged === undefined) {
      conflicts.push({ path: d.path, reason: conflictReason(d, t) });
      continue;
    }
    if (merged === null) {
      conflicts.push({ path: d.path, reason: 'both changed the same lines' });
      continue;
    }
    // A mode change on one side only is kept; when both changed it, theirs wins like the content did.
    const mode = t.newMode !== t.oldMode ? t.newMode : d.newMode;
    updates.push({ mode, oid: merged, path: d.path });
  }
  await index.update(updates);
  const tree = await index.writeTree();
  return { tree, conflicts };
}

/**
 * Which domain a path lies in when `theirs` deleted that whole domain (its folder is gone from
 * `theirs`, and `theirs` deleted files of it): a lookup per domain, asked once.
 */
function domainsDeletedIn(
  repo: NodeRepo,
  theirs: string,
  others: DiffEntry[],
  domainsDir: string,
): (path: string) => Promise<string | undefined> {
  const touched = new Set(others.filter((t) => t.status === 'D').map((t) => domainOf(t.path, domainsDir)));
  const known = new Map<string, boolean>();
  return async (path) => {
    const domain = domainOf(path, domainsDir);
    if (domain === undefined || !touched.has(domain)) return undefined;
    if (!known.has(domain))
      known.set(domain, (await repo.lsTree(theirs, [`${domainsDir}/${domain}`], false)).length === 0);
    return known.get(domain) ? domain : undefined;
  };
}

function conflictReason(d: DiffEntry, t: DiffEntry): string {
  if (d.status === 'D') return 'deleted here, changed in the repo';
  if (t.status === 'D') return 'changed here, deleted in the repo';
  if (d.status === 'A' && t.status === 'A') return 'added here and in the repo with different content';
  return 'changed on both sides (not a text merge)';
}

/**
 * `git merge-file` on the three versions (temp files: the git of Debian 12 has no --object-id).
 * Returns the merged blob's id, null when the lines conflict, undefined when it cannot merge (binary).
 */
async function mergeFile(repo: NodeRepo, d: DiffEntry, t: DiffEntry): Promise<string | null | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'gitfailover-merge-'));
  try {
    const files: string[] = [];
    for (const [name, oid] of [
      ['ours', d.newOid],
      ['base', d.oldOid],
      ['theirs', t.newOid],
    ] as const) {
      const blob = await repo.blobs.readBlob(oid);
      if (!blob || blob.includes(0)) return undefined; // binary: no line merge
      const file = join(dir, name);
      writeFileSync(file, blob);
      files.push(file);
    }
    const r = await repo.mergeFile(files[0]!, files[1]!, files[2]!);
    if (r.code > 127) return undefined;
    if (r.code !== 0) return null;
    return await repo.hashObject(r.merged);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

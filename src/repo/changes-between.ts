import { diffModels } from '../model/changes.js';
import { classifyPath } from '../model/layout.js';
import { buildModel, isModelFile, type ModelEntry } from '../model/parse.js';
import type { Change } from '../model/types.js';
import type { NodeRepo } from './node-repo.js';

/**
 * The change list between two trees, reading only the domains the diff touches: both sides get a
 * model of just those domains (plus changed files outside domains), so unchanged parts are absent
 * from both and cannot show up as changes. Cost grows with the change, not with the repo.
 */
export async function changesBetween(
  repo: NodeRepo,
  fromTree: string,
  toTree: string,
  domainsDir: string,
): Promise<Change[]> {
  const diff = await repo.diff(fromTree, toTree);
  const domains = new Set<string>();
  const globals: string[] = [];
  for (const d of diff) {
    const c = classifyPath(d.path, domainsDir);
    if (c.kind === 'domain') domains.add(c.domain);
    else if (c.kind !== 'meta') globals.push(d.path);
  }
  const paths = [...[...domains].map((d) => `${domainsDir}/${d}`), ...globals];
  if (paths.length === 0) return [];
  const [before, after] = await Promise.all([
    entriesOf(repo, fromTree, paths, domainsDir),
    entriesOf(repo, toTree, paths, domainsDir),
  ]);
  return diffModels(buildModel(before, domainsDir), buildModel(after, domainsDir));
}

/** The entries of `tree` under `paths`, with the text of the YAML files the model parses. */
export async function entriesOf(
  repo: NodeRepo,
  tree: string,
  paths: string[],
  domainsDir: string,
): Promise<ModelEntry[]> {
  // Past a few hundred paths (a first record) one listing of the whole tree is cheaper than a long argv.
  const wanted = new Set(paths);
  const all = paths.length > 500;
  const ls = (all ? await repo.lsTree(tree) : await repo.lsPaths(tree, paths)).filter((e) => {
    if (e.type !== 'blob') return false;
    if (!all) return true;
    const c = classifyPath(e.path, domainsDir);
    return c.kind === 'domain' ? wanted.has(`${domainsDir}/${c.domain}`) : wanted.has(e.path);
  });
  return Promise.all(
    ls.map(async (e) => {
      if (!isModelFile(e.path, domainsDir)) return { path: e.path, id: e.oid };
      const blob = await repo.blobs.readBlob(e.oid);
      return { path: e.path, id: e.oid, text: blob?.toString('utf8') ?? '' };
    }),
  );
}

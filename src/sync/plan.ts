import { classifyPath } from '../model/layout.js';
import type { DiffEntry } from '../repo/node-repo.js';

/** What an apply will do. Pure data, made by planPartial/planFull from a diff and a listing. */
export interface SyncPlan {
  mode: 'partial' | 'full';
  /** Domains whose files are (re)written and loaded, sorted. */
  load: string[];
  /** Domains removed from the live dir, sorted. */
  delete: string[];
  /** Files outside any domain to write (path in the repo), sorted. */
  writeGlobal: string[];
  /** Files outside any domain to remove. */
  removeGlobal: string[];
  /** Whether anything outside a domain changed: run commands.reload. */
  globalChanged: boolean;
}

/**
 * Partial sync: from the net diff between the applied commit and the target.
 * `domainInTarget(d)` says whether the target still has the domain (a diff that deletes some of a
 * domain's files does not mean the domain is gone).
 */
export function planPartial(
  diff: readonly DiffEntry[],
  domainsDir: string,
  domainInTarget: (d: string) => boolean,
  /** What an interrupted apply (its journal) may have left changed: brought in line with the target too. */
  interrupted: { domains: readonly string[]; globals: readonly { path: string; inTarget: boolean }[] } = {
    domains: [],
    globals: [],
  },
): SyncPlan {
  const touched = new Set<string>(interrupted.domains);
  const writeGlobal = new Set<string>();
  const removeGlobal = new Set<string>();
  for (const g of interrupted.globals) (g.inTarget ? writeGlobal : removeGlobal).add(g.path);
  for (const e of diff) {
    const c = classifyPath(e.path, domainsDir);
    if (c.kind === 'meta') continue;
    if (c.kind === 'domain') touched.add(c.domain);
    else if (e.status === 'D') {
      removeGlobal.add(e.path);
      writeGlobal.delete(e.path);
    } else {
      writeGlobal.add(e.path);
      removeGlobal.delete(e.path);
    }
  }
  const load = [...touched].filter((d) => domainInTarget(d)).sort();
  const del = [...touched].filter((d) => !domainInTarget(d)).sort();
  return {
    mode: 'partial',
    load,
    delete: del,
    writeGlobal: [...writeGlobal].sort(),
    removeGlobal: [...removeGlobal].sort(),
    globalChanged: writeGlobal.size + removeGlobal.size > 0,
  };
}

/**
 * Full sync (the seed's on-demand sync): every domain on the standby that the target lacks is
 * deleted, every domain of the target is loaded, every file outside domains is rewritten; files
 * outside domains that the last applied commit had and the target has not are removed.
 */
export function planFull(
  targetPaths: readonly string[],
  liveDomains: readonly string[],
  previousGlobals: readonly string[],
  domainsDir: string,
): SyncPlan {
  const domains = new Set<string>();
  const globals = new Set<string>();
  for (const p of targetPaths) {
    const c = classifyPath(p, domainsDir);
    if (c.kind === 'domain') domains.add(c.domain);
    else if (c.kind !== 'meta') globals.add(p);
  }
  return {
    mode: 'full',
    load: [...domains].sort(),
    delete: liveDomains.filter((d) => !domains.has(d)).sort(),
    writeGlobal: [...globals].sort(),
    removeGlobal: previousGlobals.filter((p) => !globals.has(p)).sort(),
    globalChanged: true,
  };
}

export function planIsEmpty(p: SyncPlan): boolean {
  return p.load.length + p.delete.length + p.writeGlobal.length + p.removeGlobal.length === 0;
}

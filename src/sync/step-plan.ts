import { GitfailoverError } from '../errors.js';
import { admitCount, admitShape, isAdmitted } from '../model/admit.js';
import { classifyPath } from '../model/layout.js';
import type { DiffEntry } from '../repo/node-repo.js';
import { listTrees, rootTree } from '../repo/tree-walk.js';
import type { SyncContext } from './context.js';
import { planFull, planPartial, type SyncPlan } from './plan.js';
import { checkDomainName, checkLiveShape, checkTargetPath, refusal } from './read-target.js';

/** Step 2: what the target changes (partial: the tree diff; full: every domain), refused when its shape is wrong. */
export async function planStep(ctx: SyncContext): Promise<undefined> {
  const { cfg, domainsDir, result } = ctx;
  const target = ctx.target!;
  const plan = ctx.mode === 'partial' ? await partialPlan(ctx, target) : await fullPlan(ctx, target);
  if (plan.writeGlobal.includes(domainsDir)) {
    // The one type clash an apply could otherwise carry out: the domains folder itself replaced by a file.
    throw new GitfailoverError(
      'E_TYPE_CLASH',
      `commit ${target.slice(0, 12)} is refused: it has a file named ${domainsDir} where live.domains (${cfg.live.domains} in ${cfg.file}) keeps the domains folder. Nothing was applied; remove the file in the repo (or revert the commit) and push`,
      { kind: 'stalling', location: { file: domainsDir, commit: target } },
    );
  }
  // The admission rule before the live dir's shape: a file where a domain folder is (`domains/x`)
  // is the commit's fault, not the live dir's, and the live domain must not be called in the way.
  const inDomains = plan.writeGlobal.filter((g) => g.startsWith(`${domainsDir}/`));
  if (inDomains.length > 0) {
    // A symbolic link there is refused as one (E_SYMLINK) when the target is read.
    const links = new Set(
      (await ctx.repo.lsTree(target, inDomains, false)).filter((e) => e.mode === '120000').map((e) => e.path),
    );
    const shape = admitShape(
      inDomains.filter((path) => !links.has(path)).map((path) => ({ path, kind: 'file' as const })),
      domainsDir,
    );
    if (shape.length > 0) throw refusal(shape[0]!, target);
  }
  ctx.plan = plan;
  result.domains = plan.load;
  result.deleted = plan.delete;
  // Read only when something is in the way: most syncs never need the globals manifest here. The
  // primary applies onto a commit made from its live dir a moment ago: that is what is there.
  const applied = {
    manifest: ctx.opts.primaryApply ? undefined : () => ctx.store.globalsManifest(),
    journal: ctx.journal?.globals ?? [],
  };
  checkLiveShape(cfg.live.dir, plan, domainsDir, target, applied);
  ctx.timer.mark('plan');
  return undefined;
}

async function partialPlan(ctx: SyncContext, target: string): Promise<SyncPlan> {
  const { repo, domainsDir, journal } = ctx;
  const diff = await repo.diff(ctx.applied, target);
  for (const d of diff) checkTargetPath(d.path, target, domainsDir);
  await countFiles(ctx, diff, target);
  const touched = new Set(
    diff.map((d) => classifyPath(d.path, domainsDir)).flatMap((c) => (c.kind === 'domain' ? [c.domain] : [])),
  );
  for (const d of journal?.domains ?? []) touched.add(d);
  for (const d of touched) checkDomainName(d, target, domainsDir);
  const present = await presentDomains(ctx, touched, target);
  const interruptedGlobals = await Promise.all(
    (journal?.globals ?? []).map(async (path) => ({
      path,
      inTarget: (await repo.blobs.read(`${target}:${path}`))?.type === 'blob',
    })),
  );
  return planPartial(diff, domainsDir, (d) => present.has(d), {
    domains: journal?.domains ?? [],
    globals: interruptedGlobals,
  });
}

/**
 * repo.maxFiles over the whole tree, kept as a count in the state (listing the tree on every
 * partial sync would cost as much as the sync): only a commit that adds files can exceed it.
 */
async function countFiles(ctx: SyncContext, diff: DiffEntry[], target: string): Promise<void> {
  const { cfg, state } = ctx;
  const added = diff.filter((d) => d.status === 'A' && isAdmitted(d.path)).length;
  const removed = diff.filter((d) => d.status === 'D' && isAdmitted(d.path)).length;
  if (added === 0 && state.files === undefined) return;
  const before =
    state.files ?? (await ctx.repo.lsTree(ctx.applied!)).filter((e) => e.type !== 'tree' && isAdmitted(e.path)).length;
  ctx.filesAfter = before + added - removed;
  const limits = { domainsDir: ctx.domainsDir, maxFileSize: cfg.repo.maxFileSize, maxFiles: cfg.repo.maxFiles };
  const over = admitCount(ctx.filesAfter, limits);
  if (over.length > 0) throw refusal(over[0]!, target);
}

/**
 * Which touched domains the target still has. A few: pipelined reads from the kept-open cat-file
 * (cost grows with the change). Many: one ls-tree of the domains folder.
 */
async function presentDomains(ctx: SyncContext, touched: Set<string>, target: string): Promise<Set<string>> {
  const { repo, domainsDir } = ctx;
  const present = new Set<string>();
  if (touched.size > 0 && touched.size <= 256) {
    const names = [...touched];
    const objects = await Promise.all(names.map((d) => repo.blobs.read(`${target}:${domainsDir}/${d}`)));
    names.forEach((d, i) => objects[i]?.type === 'tree' && present.add(d));
  } else if (touched.size > 0) {
    const prefix = `${domainsDir}/`;
    for (const e of await repo.lsTree(target, [prefix], false)) {
      const d = e.path.slice(prefix.length);
      if (e.type === 'tree' && touched.has(d)) present.add(d);
    }
  }
  return present;
}

async function fullPlan(ctx: SyncContext, target: string): Promise<SyncPlan> {
  const { domainsDir, repo } = ctx;
  // The top of the tree only, each domain a folder entry: a domain's files are listed when the
  // read comes to it (read-target.ts), so nothing the size of the whole commit is held.
  const root = await rootTree(repo.blobs, target);
  if (!root)
    throw new GitfailoverError(
      'E_MISSING_OBJECT',
      `commit ${target.slice(0, 12)} cannot be read: it is missing from this node's clone (${repo.gitDir}). Nothing was applied; move the clone aside so that the next fetch brings everything again, then run "gitfailover sync --full"`,
      { kind: 'stalling', location: { commit: target } },
    );
  const top = await listTrees(repo.blobs, [{ path: '', oid: root }], `commit ${target.slice(0, 12)}`, domainsDir);
  ctx.fullTop = top;
  const previousGlobals = [
    ...new Set([...Object.keys(ctx.store.globalsManifest()), ...(ctx.journal?.globals ?? [])]),
  ].filter((p) => classifyPath(p, domainsDir).kind === 'global');
  const plan = planFull(
    // A domain's folder as `domains/<name>/`: classified as that domain, like its files would be.
    top.map((e) => (e.type === 'tree' ? `${e.path}/` : e.path)),
    ctx.loader!.liveDomains(),
    previousGlobals,
    domainsDir,
  );
  for (const d of plan.load) checkDomainName(d, target, domainsDir);
  return plan;
}

import { GitfailoverError, errorMessage } from '../errors.js';
import { type CommandContext, runCommand } from '../loaders/commands.js';
import { type SyncContext, loaderContext } from './context.js';
import { planIsEmpty, type SyncPlan } from './plan.js';
import { rollback } from './rollback.js';
import type { Journal } from './state.js';
import { applyError, withRollbackFailure } from './sync-errors.js';

/**
 * Step 4: the loader's own checks, the journal, then the plan into the live dir with the domain
 * commands; on any failure everything this apply (and an interrupted one) changed is put back.
 */
export async function apply(ctx: SyncContext): Promise<undefined> {
  const plan = ctx.plan!;
  // Only metadata changed (.gitfailover/): nothing to load, but the commit step records the commit.
  if (planIsEmpty(plan) && !ctx.journal && ctx.mode === 'partial') return undefined;
  // The loader's own checks (e.g. proftpd -t, ports free) refuse before anything goes live.
  await ctx.loader!.validate?.({ load: ctx.rendered!.domains, delete: plan.delete }, loaderContext(ctx));
  ctx.store.writeJournal(journalOf(plan, ctx.target!, ctx.applied, ctx.result.time));
  ctx.applyStarted = true;
  const swapped: string[] = [];
  const globals: string[] = [];
  try {
    await applyPlan(ctx, swapped, globals);
  } catch (err) {
    await undo(ctx, err, swapped, globals);
  }
  ctx.loaded = true;
  ctx.timer.mark('apply');
  return undefined;
}

/** The journal written before an apply: what the next sync must bring in line should this one not finish. */
function journalOf(plan: SyncPlan, target: string, from: string | undefined, started: string): Journal {
  return {
    target,
    from,
    mode: plan.mode,
    started,
    ...(plan.mode === 'partial' ? { domains: [...new Set([...plan.load, ...plan.delete])].sort() } : {}),
    globals: [...new Set([...plan.writeGlobal, ...plan.removeGlobal])].sort(),
  };
}

/** Writes the plan; `swapped` and `globals` collect what it changed so far, so a failure puts it all back. */
async function applyPlan(ctx: SyncContext, swapped: string[], globals: string[]): Promise<void> {
  const { cfg, opts } = ctx;
  const plan = ctx.plan!;
  const rendered = ctx.rendered!;
  const loader = ctx.loader!;
  loader.prepare(loaderContext(ctx));
  const start = cfg.sync.startAfterSync || opts.start;
  for (const d of plan.delete) {
    if (cfg.commands.delete) await runCommand(cfg.commands.delete, commandContext(ctx, 'delete', d));
    swapped.push(d);
    loader.deleteDomain(d);
  }
  for (const p of plan.removeGlobal) {
    globals.push(p);
    loader.removeGlobal(p);
  }
  for (const [p, content] of rendered.globals) {
    globals.push(p);
    loader.writeGlobal(p, content);
  }
  for (const [i, d] of plan.load.entries()) {
    opts.progress?.(i, plan.load.length);
    swapped.push(d); // before the write: a write that fails half-way is put back too
    loader.writeDomain(d, rendered.domains.get(d)!);
    if (cfg.commands.load) await runCommand(cfg.commands.load, commandContext(ctx, 'load', d));
    if (start && cfg.commands.start) await runCommand(cfg.commands.start, commandContext(ctx, 'start', d));
    if (cfg.commands.check) await checkDomain(ctx, d);
  }
  // One reload for the whole apply (the server re-reads everything at once), then wait until it serves.
  await loader.activate?.(loaderContext(ctx));
  opts.progress?.(plan.load.length, plan.load.length);
  if (plan.globalChanged && cfg.commands.reload) await runCommand(cfg.commands.reload, commandContext(ctx, 'reload'));
}

function commandContext(ctx: SyncContext, action: CommandContext['action'], domain?: string): CommandContext {
  const { cfg } = ctx;
  return {
    action,
    node: cfg.node,
    commit: ctx.target!,
    domain,
    dir: domain ? ctx.loader!.domainDir(domain) : cfg.live.dir,
    timeoutMs: cfg.commands.timeout,
  };
}

/** commands.check after a domain's load: a failure quarantines the commit (not retried until a newer one). */
async function checkDomain(ctx: SyncContext, d: string): Promise<void> {
  const target = ctx.target!;
  try {
    await runCommand(ctx.cfg.commands.check!, commandContext(ctx, 'check', d));
  } catch (err) {
    ctx.state.quarantined = { commit: target, reason: errorMessage(err), domains: [d], time: new Date().toISOString() };
    throw new GitfailoverError(
      'E_CHECK_FAILED',
      `health check of domain ${d} failed at commit ${target.slice(0, 12)}; the domain was put back as the last good commit had it and the commit is quarantined: ${errorMessage(err)}`,
      { kind: 'stalling', location: { commit: target, file: `${ctx.domainsDir}/${d}` } },
    );
  }
}

/**
 * Puts back what this apply changed, and what an interrupted apply before it changed, so the live
 * dir ends at the applied commit and not between it and either target; then throws the failure.
 */
async function undo(ctx: SyncContext, err: unknown, swapped: string[], globals: string[]): Promise<never> {
  const { cfg, journal: interrupted } = ctx;
  const loader = ctx.loader!;
  const applied = ctx.state.appliedCommit;
  const domains = [...new Set([...swapped, ...(interrupted?.domains ?? [])])];
  const globalPaths = [...new Set([...globals, ...(interrupted?.globals ?? [])])];
  try {
    const rb = { cfg, repo: ctx.repo, loader, domainsDir: ctx.domainsDir, renderOpts: ctx.renderOpts! };
    await rollback({ ...rb, applied, domains, globals: globalPaths });
  } catch (rbErr) {
    // The journal stays: the next sync (automatic or --full) brings what it names in line.
    throw withRollbackFailure(err, rbErr, ctx.target);
  }
  // Make the server read what was put back; the original error is the one to report.
  await loader.activate?.({ ...loaderContext(ctx), start: false }).catch(() => {});
  loader.finish(); // nothing of this apply left in staging
  // A full apply interrupted earlier may have changed domains no journal names: keep its journal
  // so that the next sync is full again.
  if (interrupted && (interrupted.mode === 'full' || !interrupted.domains)) ctx.store.writeJournal(interrupted);
  else ctx.store.clearJournal();
  throw applyError(err, ctx.target!, applied);
}

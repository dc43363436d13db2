import type { NodeConfig } from '../config/load.js';
import { GitfailoverError, classOf } from '../errors.js';
import { makeLoader } from '../loaders/make-loader.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { assertMayApply } from '../node-state/role-state.js';
import { renderOptionsFor } from '../render/render-file.js';
import {
  loaderContext,
  newContext,
  type Stop,
  type SyncContext,
  type SyncOptions,
  type SyncOutcome,
} from './context.js';
import { rollback } from './rollback.js';
import { acquire } from './step-acquire.js';
import { apply } from './step-apply.js';
import { commit, finish } from './step-commit.js';
import { planStep } from './step-plan.js';
import { prepare } from './step-prepare.js';
import { fsErrorSentence, withRollbackFailure } from './sync-errors.js';

export type { SyncOptions, SyncOutcome };

/** The steps of a sync, in order; each may stop it early (nothing to do, a dry run). */
const STEPS: ((ctx: SyncContext) => Promise<Stop | undefined>)[] = [acquire, planStep, prepare, apply];

/**
 * One sync iteration (git-sync's SyncRepo): acquire -> plan -> prepare -> apply -> commit, each
 * a step over one SyncContext. It returns one result shape whether it succeeded or failed; that
 * result is the event.
 */
export async function syncOnce(cfg: NodeConfig, opts: SyncOptions = {}, shared?: NodeRepo): Promise<SyncOutcome> {
  const repo = shared ?? new NodeRepo(cfg.repo);
  try {
    return await withLock(cfg.repo.stateDir, 'sync', () => syncLocked(cfg, repo, opts));
  } finally {
    if (!shared) repo.close();
  }
}

async function syncLocked(cfg: NodeConfig, repo: NodeRepo, opts: SyncOptions): Promise<SyncOutcome> {
  // Checked under the lock, so a sync queued before a promote cannot overwrite the new primary's edits.
  if (!opts.dryRun && !opts.primaryApply) assertMayApply(cfg);
  const ctx = newContext(cfg, repo, opts);
  try {
    for (const step of STEPS) {
      const stop = await step(ctx);
      if (stop) return finish(ctx, stop.record);
    }
    return commit(ctx);
  } catch (err) {
    return await failed(ctx, err);
  }
}

/** A sync that failed: staging discarded, an interrupted apply's domains put back, the failure as the result. */
async function failed(ctx: SyncContext, err: unknown): Promise<SyncOutcome> {
  const { result, opts } = ctx;
  try {
    ctx.loader?.discardStaged?.(); // domains built ahead of an apply that will not happen
  } catch {
    // staging debris only; the next prepare() clears it
  }
  let e = err instanceof GitfailoverError ? err : fsErrorSentence(err, result.toCommit, ctx.applyStarted);
  const { journal } = ctx;
  if (journal && !ctx.applyStarted && !opts.dryRun && journal.mode === 'partial' && journal.domains) {
    try {
      await restoreInterrupted(ctx, journal.domains, journal.globals ?? []);
    } catch (rbErr) {
      e = withRollbackFailure(e, rbErr, result.toCommit);
    }
  }
  result.success = false;
  result.error = e.message;
  result.errorCode = e.code;
  result.errorClass = classOf(e.code, e.kind);
  if (e.location.file) result.errorFile = e.location.file;
  result.errorCommit = e.location.commit ?? result.toCommit;
  return finish(ctx);
}

/**
 * Refused before its apply, after an interrupted one: put what the journal names back as the
 * applied commit has it, so the live dir is not left between two commits.
 */
async function restoreInterrupted(ctx: SyncContext, domains: string[], globals: string[]): Promise<void> {
  const { cfg, domainsDir, applied } = ctx;
  const loader = ctx.loader ?? makeLoader(cfg, domainsDir, ctx.opts.fsOps);
  const at = { ...loaderContext(ctx, applied ?? ''), start: false };
  loader.prepare(at);
  const renderOpts = renderOptionsFor(cfg.substitution, cfg.file, domainsDir);
  await rollback({ cfg, repo: ctx.repo, loader, domainsDir, renderOpts, applied, domains, globals });
  await loader.activate?.(at).catch(() => {}); // the server reads what was put back
  loader.finish();
  ctx.store.clearJournal();
}

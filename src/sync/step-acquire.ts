import { GitfailoverError } from '../errors.js';
import { makeLoader } from '../loaders/make-loader.js';
import { verifyRange } from '../repo/signatures.js';
import { redact } from '../util/redact.js';
import type { Stop, SyncContext } from './context.js';

/**
 * Step 1: fetch, choose the target, and stop when there is nothing to do; otherwise refuse a
 * target outside the applied history, verify signatures and list the commits it brings.
 */
export async function acquire(ctx: SyncContext): Promise<Stop | undefined> {
  const { cfg, repo, opts, state, result } = ctx;
  await repo.ensure();
  await repo.clearStaleLocks(); // under the sync lock: what a killed git left cannot block this sync
  if (opts.full && cfg.sync.automatic && !state.disabled && opts.onDemand) {
    throw new GitfailoverError(
      'E_FULL_WHILE_AUTOMATIC',
      `a full sync is refused while automatic sync is enabled (sync.automatic in ${cfg.file}): set sync.automatic: false, or run "gitfailover sync --disable" first, then "gitfailover sync --full"`,
      { kind: 'stalling' },
    );
  }
  ctx.headCommit = opts.primaryApply ? opts.to : await repo.fetch(cfg.sync.timeout);
  ctx.timer.mark('fetch');
  if (ctx.journal)
    opts.log?.(
      `an interrupted ${ctx.journal.mode} sync to ${ctx.journal.target.slice(0, 12)} is brought in line with this sync's target`,
    );
  const target = opts.to ? await resolveTo(ctx, opts.to) : ctx.headCommit;
  ctx.target = result.toCommit = target;
  if (!target) {
    result.success = result.upToDate = true;
    return { record: true };
  }
  ctx.loader = makeLoader(cfg, ctx.domainsDir, opts.fsOps);
  if (!ctx.journal && target === ctx.applied && ctx.mode === 'partial') {
    ctx.loader.finish(); // what a clean-up that failed earlier left in staging (best effort)
    result.success = result.upToDate = true;
    // Recorded only when it changes something: it ends a failed last sync (a remote that is back),
    // and an operator's sync at the head ends a pin or a failure's disable (endOrKeepPin).
    const ends = state.lastSync?.success === false || (opts.onDemand && (state.pinned || state.disabled));
    return { record: Boolean(!opts.dryRun && ends) };
  }
  if (!ctx.journal && !opts.onDemand && state.quarantined?.commit === target) {
    result.success = result.upToDate = true;
    result.error = `commit ${target.slice(0, 12)} is quarantined: ${state.quarantined.reason}`;
    return { record: false };
  }
  await refuseOtherHistory(ctx, target);
  // One rule for partial and full syncs (signatures.ts): every change above the trusted anchor.
  // The primary's apply (incoming.ts) verified the remote's commits with the same rule before building on them.
  if (cfg.repo.verify && !opts.primaryApply) {
    const verify = {
      anchor: state.verifiedCommit,
      target,
      verify: cfg.repo.verify,
      file: cfg.file,
      stateDir: ctx.stateDir,
    };
    ctx.verifiedAnchor = (await verifyRange(repo, verify)).anchor;
  }
  // A partial sync got here only because applied is an ancestor: no second merge-base process.
  const { applied } = ctx;
  const since = applied && (ctx.mode === 'partial' || (await repo.isAncestor(applied, target)));
  result.commits = (await (since ? repo.commitsSince(applied, target, 50) : repo.log(target, [], 50))).map((c) => ({
    id: c.commit,
    subject: c.subject,
    author: c.author,
  }));
  return undefined;
}

async function resolveTo(ctx: SyncContext, to: string): Promise<string> {
  const target = await ctx.repo.resolve(to);
  if (target) return target;
  throw new GitfailoverError(
    'E_BAD_REV',
    `--to ${to}: no such commit in ${redact(ctx.cfg.repo.remote)} (fetched ${ctx.cfg.repo.branch})`,
    { kind: 'stalling' },
  );
}

/** A partial sync moves along the applied history; `--to` an older commit of the branch is a pin back in it. */
async function refuseOtherHistory(ctx: SyncContext, target: string): Promise<void> {
  const { repo, opts, cfg } = ctx;
  const applied = ctx.applied!;
  if (ctx.mode !== 'partial' || opts.primaryApply || (await repo.isAncestor(applied, target))) return;
  if (opts.to && (await repo.isAncestor(target, applied))) return;
  throw opts.to
    ? new GitfailoverError(
        'E_PIN_NOT_IN_HISTORY',
        `--to ${opts.to}: commit ${target.slice(0, 12)} is neither older nor newer than the applied commit ${applied.slice(0, 12)} on ${cfg.repo.branch} (it is on another line of history), so a partial sync cannot get there and nothing was applied. To load it whole, run "gitfailover sync --disable", then "gitfailover sync --full --to ${opts.to}"`,
        { kind: 'stalling', location: { commit: target } },
      )
    : new GitfailoverError(
        'E_HISTORY_REWRITTEN',
        `the remote head ${target.slice(0, 12)} does not descend from the applied commit ${applied.slice(0, 12)}: the remote's history was rewritten (or this node applied a commit the remote no longer has), so a partial sync is refused. Check the remote, then run "gitfailover sync --disable" and "gitfailover sync --full" to reload everything`,
        { kind: 'stalling', location: { commit: target } },
      );
}

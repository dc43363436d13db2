import { gitBlobId } from '../model/tree-source.js';
import type { Rendered } from './check-work.js';
import type { SyncContext, SyncOutcome } from './context.js';
import type { SyncPlan } from './plan.js';

/**
 * Step 5: the target is the applied commit. state.json reaches disk (finish) before the journal
 * goes and after staging is cleared, so a kill at any point leaves either the journal (the next
 * sync brings the live dir in line) or a state naming what the live dir holds.
 */
export function commit(ctx: SyncContext): SyncOutcome {
  recordApplied(ctx, ctx.loaded ? ctx.rendered : undefined);
  ctx.result.success = true;
  const outcome = finish(ctx);
  if (!ctx.loaded) return outcome;
  ctx.loader!.finish(); // best effort: staging only
  ctx.store.clearJournal();
  ctx.timer.mark('state');
  return outcome;
}

/** The applied commit and what describes it (saved by finish()): bindings and manifest shards. */
function recordApplied(ctx: SyncContext, rendered: Rendered | undefined): void {
  const { state, plan } = ctx;
  state.appliedCommit = ctx.target;
  if (ctx.verifiedAnchor) state.verifiedCommit = ctx.verifiedAnchor;
  if (ctx.filesAfter !== undefined) state.files = ctx.filesAfter;
  if (!rendered || !plan) return;
  saveChangedBindings(ctx, plan, rendered);
  writeManifests(ctx, plan, rendered);
}

/**
 * The bindings file is rewritten only when a binding changed (a user change leaves them as they
 * are); state.json names the new file, so the switch lands with the applied commit.
 */
function saveChangedBindings(ctx: SyncContext, plan: SyncPlan, rendered: Rendered): void {
  const { state, store } = ctx;
  const changed =
    plan.mode === 'full' ||
    plan.delete.some((d) => store.bindingsOf(state, d) !== undefined) ||
    [...rendered.domains.keys()].some((d) => !store.sameBindings(state, d, rendered.bindings[d]));
  if (!changed) return;
  const bindings = plan.mode === 'full' ? {} : { ...store.bindings(state) };
  for (const d of plan.delete) delete bindings[d];
  for (const d of rendered.domains.keys()) bindings[d] = rendered.bindings[d] ?? [];
  state.bindingsFile = store.writeBindings(bindings); // counts from finish()'s write of state.json
}

/**
 * The manifest is sharded per domain (manifest-store.ts): only the shards of the domains this
 * apply touched are written. A full sync keeps the shards that already say the same and removes
 * the others.
 */
function writeManifests(ctx: SyncContext, plan: SyncPlan, rendered: Rendered): void {
  const { store, domainsDir } = ctx;
  if (plan.mode === 'full') store.removeDomainManifestsExcept(new Set(rendered.domains.keys()));
  for (const d of plan.delete) store.writeDomainManifest(d, undefined);
  for (const [d, dfiles] of rendered.domains) {
    if (rendered.shards.has(d)) continue; // staged as it was built: moved in below
    const text = rendered.manifests.get(d);
    if (text !== undefined) {
      store.writeDomainManifestText(d, text, { unlessSame: plan.mode === 'full' });
      continue;
    }
    const entries: Record<string, string> = {};
    for (const [rel, content] of dfiles)
      entries[`${domainsDir}/${d}/${rel}`] = rendered.oids.get(content) ?? gitBlobId(content);
    store.writeDomainManifest(d, entries, { unlessSame: plan.mode === 'full' });
  }
  if (rendered.shards.size > 0)
    store.commitStagedManifests([...rendered.shards].flatMap(([d, staged]) => (staged ? [d] : [])));
  if (plan.mode === 'full' || plan.removeGlobal.length > 0 || rendered.globals.size > 0) {
    const globals = plan.mode === 'full' ? {} : store.globalsManifest();
    for (const p of plan.removeGlobal) delete globals[p];
    for (const [p, content] of rendered.globals) globals[p] = rendered.oids.get(content) ?? gitBlobId(content);
    store.writeGlobalsManifest(globals);
  }
}

/**
 * The end of every sync, whatever step it stopped at: the result's duration, and (`record`) the
 * result, failure count, recovery, disable and pin into state.json in one write.
 */
export function finish(ctx: SyncContext, record = true): SyncOutcome {
  const { result, state, opts, cfg } = ctx;
  result.mode = ctx.mode;
  result.durationMs = Date.now() - ctx.started;
  // A usage error (sync --full while automatic is on, --to no such commit) is the operator's
  // typing, not a sync: nothing is recorded and no event fires.
  if (record && !opts.dryRun && result.errorClass !== 'usage') {
    const wasFailing = state.consecutiveFailures > 0;
    ctx.recoveredAfter = state.consecutiveFailures;
    if (!(result.success && result.upToDate && state.lastSync?.success)) state.lastSync = result; // an up-to-date check does not hide the last apply
    if (result.success) {
      state.consecutiveFailures = 0;
      if (wasFailing) ctx.extraEvents.push('sync.recovered');
      if (result.toCommit && state.appliedCommit === result.toCommit) delete state.quarantined; // it applied and passed its checks
      endOrKeepPin(ctx);
    } else {
      state.consecutiveFailures += 1;
      // Only the repo's content disables automatic sync: a remote that is down or a busy lock is
      // retried (with backoff by the daemon) and must not need an operator once it is back.
      if (result.errorClass === 'content' && cfg.sync.disableOnFailure && cfg.sync.automatic && !state.disabled) {
        const reason = result.error ?? 'sync failed';
        state.disabled = { reason, time: new Date().toISOString(), commit: result.toCommit, cause: 'failure' };
        ctx.extraEvents.push('sync.disabled');
      }
    }
    ctx.store.write(state);
  }
  const { plan, patches, extraEvents, recoveredAfter } = ctx;
  return { result, plan, patches, extraEvents, state, recoveredAfter };
}

/**
 * `--to` anything but the head pins this node there and turns automatic sync off (else the
 * daemon would move it on at once); an operator's sync to the head ends the pin and a failure's
 * disable. An operator's --disable stays until --enable.
 */
function endOrKeepPin(ctx: SyncContext): void {
  const { opts, result, state } = ctx;
  if (!opts.onDemand || !result.toCommit) return;
  if (opts.to && result.toCommit !== ctx.headCommit) {
    const time = new Date().toISOString();
    state.pinned = { commit: result.toCommit, time };
    if (state.disabled?.cause !== 'operator') {
      const reason = `pinned to ${result.toCommit.slice(0, 12)} by "gitfailover sync --to" ("gitfailover sync --enable" un-pins)`;
      state.disabled = { reason, time, commit: result.toCommit, cause: 'pin' };
    }
    result.pinned = true;
    return;
  }
  delete state.pinned;
  if (state.disabled && state.disabled.cause !== 'operator') delete state.disabled;
}

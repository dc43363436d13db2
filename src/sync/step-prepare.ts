import { GitfailoverError } from '../errors.js';
import { describeUnmappedService, UNMAPPED_LINES, unmappedBindings } from '../model/admit.js';
import { openRenderedSecrets, SecretOpener } from '../secrets/render-secrets.js';
import { checkBindings } from './bindings-check.js';
import { renderOptionsFor } from '../render/render-file.js';
import type { RenderSettings } from './check-render.js';
import { CheckWork, type Rendered } from './check-work.js';
import { CheckedBlobs } from './checked-blobs.js';
import type { Stop, SyncContext } from './context.js';
import { keepUnrecorded } from './keep-unrecorded.js';
import { readTarget } from './read-target.js';

/**
 * Step 3: read, admit and render what the plan loads, open its secrets, and refuse a duplicate
 * binding or (substitution.strict) an unmapped address, all before anything is applied. A dry
 * run stops here with its patches.
 */
export async function prepare(ctx: SyncContext): Promise<Stop | undefined> {
  const { cfg, opts, domainsDir } = ctx;
  const plan = ctx.plan!;
  const target = ctx.target!;
  const settings: RenderSettings = { substitution: cfg.substitution, file: cfg.file, domainsDir };
  const renderOpts = renderOptionsFor(cfg.substitution, cfg.file, domainsDir);
  ctx.renderOpts = renderOpts;
  const rendered = await checkAndRender(ctx, settings);
  ctx.rendered = rendered;
  // Secrets (`x.age`) are opened here, before anything is applied: one this node cannot open refuses the sync.
  ctx.secretPaths = await openRenderedSecrets(new SecretOpener(cfg, target, renderOpts), rendered, plan, domainsDir);
  ctx.timer.mark('read+check+render');
  checkBindings(rendered.bindings, ctx.store, ctx.state, plan, target, domainsDir);
  if (opts.primaryApply) keepUnrecorded(cfg, rendered.domains, domainsDir, rendered.globals);
  reportUnmapped(ctx, rendered);
  if (!opts.dryRun) return undefined;
  // Loaded for --dry-run only: its diff library is not part of every sync's (and record's) start-up.
  const { dryRunPatches } = await import('./dry-run.js');
  ctx.patches = dryRunPatches(cfg.live.dir, rendered, plan, ctx.loader!, domainsDir, ctx.secretPaths);
  ctx.result.success = true;
  return { record: false };
}

/**
 * Loading the known-good list costs about as much as parsing a few hundred files: worth it for a
 * full sync or a large change, not for the one-domain partial sync. Worker threads likewise start
 * only for a sync with thousands of files to check.
 */
async function checkAndRender(ctx: SyncContext, settings: RenderSettings): Promise<Rendered> {
  const { cfg, opts, plan, domainsDir } = ctx;
  const loader = ctx.loader!;
  const large = ctx.mode === 'full' || plan!.load.length * 4 + plan!.writeGlobal.length > 500;
  const checked = large ? new CheckedBlobs(ctx.stateDir, domainsDir) : undefined;
  const stage = opts.dryRun ? undefined : loader.stage?.bind(loader);
  // The primary's apply adds unrecorded live files to the domains after this (keep-unrecorded.ts).
  const drop = ctx.mode === 'full' && !opts.primaryApply;
  if (drop) ctx.store.clearStagedManifests(); // what a sync that did not commit left
  const stageShard = drop ? (d: string, text: string) => ctx.store.stageDomainManifest(d, text) : undefined;
  const work = new CheckWork(settings, ctx.renderOpts!, checked, stage, drop, stageShard);
  let rendered: Rendered;
  try {
    const files = await readTarget(
      ctx.repo,
      ctx.target!,
      { domains: plan!.load, globals: plan!.writeGlobal, all: ctx.mode === 'full' },
      {
        domainsDir,
        maxFileSize: cfg.repo.maxFileSize,
        maxFiles: cfg.repo.maxFiles,
        top: ctx.fullTop,
        onBatch: (b, complete, read) => work.add(b, complete, read),
      },
    );
    ctx.fullTop = undefined;
    if (ctx.mode === 'full') ctx.filesAfter = files.files;
    rendered = await work.finish(files, ctx.target!);
  } finally {
    await work.close();
  }
  if (!opts.dryRun) checked?.save(ctx.mode === 'full');
  return rendered;
}

/**
 * Substitution never passes production's address silently: refused with substitution.strict,
 * else reported (log, substitution.unmapped event) and `ready` fails until it is mapped or kept.
 */
function reportUnmapped(ctx: SyncContext, rendered: Rendered): void {
  const { cfg, domainsDir } = ctx;
  const target = ctx.target!;
  const unmapped = unmappedBindings(rendered.bindings, cfg.substitution.ips, cfg.substitution.keep, rendered.services);
  if (unmapped.length === 0) return;
  const u = unmapped[0]!;
  const what = `${domainsDir}/${u.domain}/services.yaml: ${describeUnmappedService(u)} is not in substitution.ips of ${cfg.file}, so the failover would listen on production's address`;
  if (cfg.substitution.strict) {
    throw new GitfailoverError(
      'E_IP_NOT_SUBSTITUTED',
      `commit ${target.slice(0, 12)} is refused: ${what}${unmapped.length > 1 ? ` (and ${unmapped.length - 1} more)` : ''}. Nothing was applied; map it under substitution.ips, or list it under substitution.keep if it is shared on purpose`,
      { kind: 'stalling', location: { file: `${domainsDir}/${u.domain}/services.yaml`, commit: target } },
    );
  }
  // A line per service up to a screenful; a repo with thousands unmapped gets a count, not thousands of lines.
  for (const x of unmapped.slice(0, UNMAPPED_LINES))
    ctx.opts.log?.(
      `warning: ${domainsDir}/${x.domain}/services.yaml: ${describeUnmappedService(x)} is not in substitution.ips: the failover would listen on production's address (map it, or list it under substitution.keep)`,
    );
  if (unmapped.length > UNMAPPED_LINES)
    ctx.opts.log?.(
      `warning: and ${unmapped.length - UNMAPPED_LINES} more service addresses not in substitution.ips ("gitfailover ready" lists them)`,
    );
  ctx.result.unmapped = unmapped;
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTwoFilesPatch } from 'diff';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError, errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import type { Loader, LoaderContext } from '../loaders/loader.js';
import { makeLoader } from '../loaders/make-loader.js';
import { admitCount, BindingIndex, hostPort, isAdmitted, splitBinding, unmappedBindings, type BindingFact } from '../model/admit.js';
import { classifyPath, domainsDirOf } from '../model/layout.js';
import { gitBlobId } from '../model/tree-source.js';
import { renderFile, type RenderOptions } from '../render/render-file.js';
import { withLock } from '../repo/lock.js';
import { assertMayApply } from '../role/role-state.js';
import { redact } from '../repo/git.js';
import { NodeRepo, type LsEntry } from '../repo/node-repo.js';
import { verifyCommits } from '../repo/signatures.js';
import { CheckedBlobs } from './checked-blobs.js';
import { renderOptionsOf, type RenderSettings } from './check-render.js';
import { CheckWork, type Rendered } from './check-work.js';
import { loadGlobalsManifest, removeDomainManifestsExcept, writeDomainManifest, writeGlobalsManifest } from './manifest-store.js';
import { planFull, planIsEmpty, planPartial, type SyncPlan } from './plan.js';
import { checkDomainName, checkLiveShape, checkTargetPath, readTarget, refusal } from './read-target.js';
import { clearJournal, loadJournal, loadState, sameBindings, saveBindings, saveJournal, saveState, storedBindingsOf, type StandbyState, type SyncResult } from './state.js';
import type { Progress } from '../util/progress.js';

export interface SyncOptions {
  full?: boolean;
  /** `--to REV` instead of the remote head. */
  to?: string;
  dryRun?: boolean;
  /** An operator's `sync` (re-enables automatic sync on success); false for the daemon's own syncs. */
  onDemand?: boolean;
  /** Start the domains after loading them even when sync.startAfterSync is off (`sync --start`). */
  start?: boolean;
  log?: (line: string) => void;
  /** Domains loaded so far of this apply (a full sync of thousands takes a while): `sync` shows it on a TTY. */
  progress?: Progress;
  /** Filled with the milliseconds each phase took (fetch, plan, read+check, apply, state): the bench's breakdown. */
  timings?: Record<string, number>;
}

export interface SyncOutcome {
  result: SyncResult;
  plan?: SyncPlan;
  /** --dry-run: unified diffs of the live-dir files that would change. */
  patches?: string[];
  /** Events to fire besides `sync` (sync.disabled, sync.recovered). */
  extraEvents: ('sync.disabled' | 'sync.recovered')[];
  /** For sync.recovered: how many syncs had failed before this success. */
  recoveredAfter: number;
  state: StandbyState;
}

/**
 * One sync iteration (git-sync's SyncRepo): fetch -> diff -> plan -> check -> render -> apply ->
 * state. It returns one result shape whether it succeeded or failed; that result is the event.
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
  if (!opts.dryRun) assertMayApply(cfg);
  const started = Date.now();
  const stateDir = cfg.repo.stateDir;
  const domainsDir = domainsDirOf(cfg.live.domains);
  const state = loadState(stateDir, { domainsDir });
  const journal = opts.dryRun ? undefined : loadJournal(stateDir);
  const applied = state.appliedCommit;
  let mode: 'partial' | 'full' = opts.full || !applied || journal?.mode === 'full' ? 'full' : 'partial';
  const result: SyncResult = {
    success: false,
    mode,
    fromCommit: applied,
    commits: [],
    domains: [],
    deleted: [],
    durationMs: 0,
    time: new Date(started).toISOString(),
    ...(opts.dryRun ? { dryRun: true } : {}),
  };
  const extraEvents: SyncOutcome['extraEvents'] = [];
  let recoveredAfter = 0;
  let plan: SyncPlan | undefined;
  let patches: string[] | undefined;
  let discardStaged: (() => void) | undefined;
  let lap = performance.now();
  const mark = (phase: string) => {
    if (!opts.timings) return;
    const now = performance.now();
    opts.timings[phase] = (opts.timings[phase] ?? 0) + now - lap;
    lap = now;
  };

  try {
    await repo.ensure();
    await repo.clearStaleLocks(); // under the sync lock: what a killed git left cannot block this sync
    if (opts.full && cfg.sync.automatic && !state.disabled && opts.onDemand) {
      throw new GitfailoverError(
        'E_FULL_WHILE_AUTOMATIC',
        `a full sync is refused while automatic sync is enabled (sync.automatic in ${cfg.file}): set sync.automatic: false, or run "gitfailover sync --disable" first, then "gitfailover sync --full"`,
        { kind: 'stalling' },
      );
    }
    const head = await repo.fetch(cfg.sync.timeout);
    mark('fetch');
    let target: string | undefined;
    if (journal) {
      target = journal.target; // finish the interrupted apply before anything newer
      opts.log?.(`resuming interrupted ${journal.mode} sync to ${journal.target.slice(0, 12)}`);
    } else if (opts.to) {
      target = await repo.resolve(opts.to);
      if (!target) throw new GitfailoverError('E_BAD_REV', `--to ${opts.to}: no such commit in ${redact(cfg.repo.remote)} (fetched ${cfg.repo.branch})`, { kind: 'stalling' });
    } else {
      target = head;
    }
    result.toCommit = target;
    if (!target) {
      result.success = true;
      result.upToDate = true;
      return finish();
    }
    const loader = makeLoader(cfg, domainsDir);
    discardStaged = () => loader.discardStaged?.();
    const loaderCtx: LoaderContext = { node: cfg.node, commit: target, start: Boolean(cfg.sync.startAfterSync || opts.start), log: opts.log };
    if (!journal && target === applied && mode === 'partial') {
      // `sync --start` with nothing new to apply still starts what earlier syncs loaded stopped.
      if (opts.start && !opts.dryRun && loader.startAll) result.domains = await loader.startAll(loaderCtx);
      result.success = true;
      result.upToDate = true;
      return finish(false);
    }
    if (!journal && !opts.onDemand && state.quarantined?.commit === target) {
      result.success = true;
      result.upToDate = true;
      result.error = `commit ${target.slice(0, 12)} is quarantined: ${state.quarantined.reason}`;
      return finish(false);
    }
    if (mode === 'partial' && !(await repo.isAncestor(applied!, target))) {
      throw new GitfailoverError(
        'E_HISTORY_REWRITTEN',
        `commit ${target.slice(0, 12)} does not descend from the applied commit ${applied!.slice(0, 12)}: the repo's history was rewritten, so a partial sync is refused. Check the remote, then run "gitfailover sync --full" (with automatic sync disabled) to reload everything`,
        { kind: 'stalling', location: { commit: target } },
      );
    }
    if (cfg.repo.verify) {
      // Every commit new to this node must carry an allowed signature; without an applied
      // ancestor (first sync, rewritten history) the target itself, whose tree is what is applied.
      const descends = applied !== undefined && applied !== target && (await repo.isAncestor(applied, target));
      await verifyCommits(repo, descends ? [`${applied}..${target}`] : ['-1', target], cfg.repo.verify.allowedSigners, cfg.file);
    }
    // A partial sync got here only because applied is an ancestor: no second merge-base process (~15 ms).
    result.commits = (await repo.log(applied && (mode === 'partial' || (await repo.isAncestor(applied, target))) ? `${applied}..${target}` : target, [], 50)).map((c) => ({
      id: c.commit,
      subject: c.subject,
      author: c.author,
    }));

    let fullListing: LsEntry[] | undefined;
    let filesAfter: number | undefined;
    if (mode === 'partial') {
      const diff = await repo.diff(applied, target);
      for (const d of diff) checkTargetPath(d.path, target, domainsDir);
      // repo.maxFiles over the whole tree, kept as a count in the state (listing the tree on every
      // partial sync would cost as much as the sync): only a commit that adds files can exceed it.
      const added = diff.filter((d) => d.status === 'A' && isAdmitted(d.path)).length;
      const removed = diff.filter((d) => d.status === 'D' && isAdmitted(d.path)).length;
      if (added > 0 || state.files !== undefined) {
        const before = state.files ?? (await repo.lsTree(applied!)).filter((e) => e.type !== 'tree' && isAdmitted(e.path)).length;
        filesAfter = before + added - removed;
        const over = admitCount(filesAfter, { domainsDir, maxFileSize: cfg.repo.maxFileSize, maxFiles: cfg.repo.maxFiles });
        if (over.length > 0) throw refusal(over[0]!, target);
      }
      const touched = new Set(diff.map((d) => classifyPath(d.path, domainsDir)).flatMap((c) => (c.kind === 'domain' ? [c.domain] : [])));
      for (const d of touched) checkDomainName(d, target, domainsDir);
      // Which touched domains the target still has. A few: pipelined reads from the kept-open
      // cat-file (cost grows with the change). Many: one ls-tree of the domains folder (10,000
      // sequential round trips to cat-file took most of a minute).
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
      plan = planPartial(diff, domainsDir, (d) => present.has(d));
    } else {
      fullListing = await repo.lsTree(target);
      filesAfter = fullListing.filter((e) => e.type !== 'tree' && isAdmitted(e.path)).length;
      const previousGlobals = Object.keys(loadGlobalsManifest(stateDir)).filter((p) => classifyPath(p, domainsDir).kind === 'global');
      plan = planFull(fullListing.map((e) => e.path), loader.liveDomains(), previousGlobals, domainsDir);
      for (const d of plan.load) checkDomainName(d, target, domainsDir);
    }
    result.domains = plan.load;
    result.deleted = plan.delete;
    checkLiveShape(cfg.live.dir, plan, domainsDir, target);
    mark('plan');

    const settings: RenderSettings = { substitution: cfg.substitution, file: cfg.file, domainsDir };
    const renderOpts = renderOptionsOf(settings);
    // Loading the known-good list costs about as much as parsing a few hundred files: worth it
    // for a full sync or a large change, not for the one-domain partial sync. Worker threads
    // likewise start only for a sync with thousands of files to check.
    const large = mode === 'full' || plan.load.length * 4 + plan.writeGlobal.length > 500;
    const checked = large ? new CheckedBlobs(stateDir, domainsDir) : undefined;
    const work = new CheckWork(settings, renderOpts, checked, opts.dryRun ? undefined : loader.stage?.bind(loader));
    let rendered: Rendered;
    try {
      const files = await readTarget(repo, target, { domains: plan.load, globals: plan.writeGlobal, all: mode === 'full' }, { domainsDir, maxFileSize: cfg.repo.maxFileSize, maxFiles: cfg.repo.maxFiles, listing: fullListing, onBatch: (b, complete) => work.add(b, complete) });
      rendered = await work.finish(files, target);
    } finally {
      await work.close();
    }
    if (!opts.dryRun) checked?.save(mode === 'full');
    mark('read+check+render');
    checkBindings(rendered.bindings, state, plan, target, domainsDir);
    // Substitution never passes production's address silently: refused with substitution.strict,
    // else reported (log, substitution.unmapped event) and `ready` fails until it is mapped or kept.
    const unmapped = unmappedBindings(rendered.bindings, cfg.substitution.ips, cfg.substitution.keep);
    if (unmapped.length > 0) {
      const u = unmapped[0]!;
      const what = `${domainsDir}/${u.domain}/services.yaml: ${hostPort(u.ip, u.port)} is not in substitution.ips of ${cfg.file}, so the failover would listen on production's address`;
      if (cfg.substitution.strict) {
        throw new GitfailoverError('E_IP_NOT_SUBSTITUTED', `commit ${target.slice(0, 12)} is refused: ${what}${unmapped.length > 1 ? ` (and ${unmapped.length - 1} more)` : ''}. Nothing was applied; map it under substitution.ips, or list it under substitution.keep if it is shared on purpose`, {
          kind: 'stalling',
          location: { file: `${domainsDir}/${u.domain}/services.yaml`, commit: target },
        });
      }
      for (const x of unmapped) opts.log?.(`warning: ${domainsDir}/${x.domain}/services.yaml: ${hostPort(x.ip, x.port)} is not in substitution.ips: the failover would listen on production's address (map it, or list it under substitution.keep)`);
      result.unmapped = unmapped;
    }

    if (opts.dryRun) {
      patches = dryRunPatches(cfg.live.dir, rendered, plan, loader, domainsDir);
      result.success = true;
      return finish(false);
    }
    if (planIsEmpty(plan) && !journal && mode === 'partial') {
      // Only metadata changed (.gitfailover/): nothing to load, but the commit is applied.
      commitState(target, undefined, filesAfter);
      result.success = true;
      return finish();
    }

    // The loader's own checks (e.g. proftpd -t, ports free) refuse before anything goes live.
    await loader.validate?.({ load: rendered.domains, delete: plan.delete }, loaderCtx);
    saveJournal(stateDir, { target, from: applied, mode, started: result.time });
    await applyPlan(cfg, loader, plan, rendered, target, opts, state, repo, domainsDir, renderOpts);
    mark('apply');
    commitState(target, rendered, filesAfter);
    result.success = true;
    // The applied commit reaches disk before the journal goes, and staging is cleared before it
    // too: a kill between clearing the journal and saving the state left the live dir at the
    // target while the state named the previous commit, and the restart saw nothing to do (the
    // kill trials found it). finish() is that save (state.json, fsync'd): it also records
    // lastSync, so one write instead of two, and a kill before it resumes from the journal as before.
    const outcome = finish();
    loader.finish();
    clearJournal(stateDir);
    mark('state');
    return outcome;
  } catch (err) {
    discardStaged?.(); // domains built ahead of an apply that will not happen
    const e = err instanceof GitfailoverError ? err : new GitfailoverError('E_SYNC', errorMessage(err), { cause: err });
    result.success = false;
    result.error = e.message;
    result.errorCode = e.code;
    if (e.location.file) result.errorFile = e.location.file;
    result.errorCommit = e.location.commit ?? result.toCommit;
    return finish();
  }

  /** Record the applied commit (saved by finish()), its bindings and manifest shards. */
  function commitState(target: string, rendered?: Rendered, files?: number): void {
    state.appliedCommit = target;
    if (files !== undefined) state.files = files;
    if (rendered && plan) {
      // Which loaded domains still carry production's addresses: replaced per domain, as the bindings are.
      const next: Record<string, string[]> = plan.mode === 'full' ? {} : { ...state.unmapped };
      for (const d of [...plan.delete, ...rendered.domains.keys()]) delete next[d];
      for (const u of result.unmapped ?? []) (next[u.domain] ??= []).push(hostPort(u.ip, u.port));
      state.unmapped = Object.keys(next).length > 0 ? next : undefined;
    }
    if (rendered && plan) {
      // The bindings file is rewritten only when a binding changed (a user change leaves them
      // as they are); state.json names the new file, so the switch lands with the applied commit.
      const changed =
        plan.mode === 'full' || plan.delete.some((d) => storedBindingsOf(state, d) !== undefined) || [...rendered.domains.keys()].some((d) => !sameBindings(state, d, rendered.bindings[d]));
      if (changed) {
        const bindings = plan.mode === 'full' ? {} : { ...state.bindings };
        for (const d of plan.delete) delete bindings[d];
        for (const d of rendered.domains.keys()) bindings[d] = rendered.bindings[d] ?? [];
        saveBindings(stateDir, state, bindings);
      }
      // The manifest is sharded per domain (manifest-store.ts): only the shards of the domains
      // this apply touched are written, so a one-user sync no longer rewrites 19 MB at 10,000 domains.
      // A full sync keeps the shards that already say the same (a warm full sync of 10,000
      // domains spent seconds deleting and rewriting identical ones) and removes the others.
      if (plan.mode === 'full') removeDomainManifestsExcept(stateDir, new Set(rendered.domains.keys()));
      for (const d of plan.delete) writeDomainManifest(stateDir, d, undefined);
      for (const [d, dfiles] of rendered.domains) {
        const entries: Record<string, string> = {};
        for (const [rel, content] of dfiles) entries[`${domainsDir}/${d}/${rel}`] = rendered.oids.get(content) ?? gitBlobId(content);
        writeDomainManifest(stateDir, d, entries, { unlessSame: plan.mode === 'full' });
      }
      if (plan.mode === 'full' || plan.removeGlobal.length > 0 || rendered.globals.size > 0) {
        const globals = plan.mode === 'full' ? {} : loadGlobalsManifest(stateDir);
        for (const p of plan.removeGlobal) delete globals[p];
        for (const [p, content] of rendered.globals) globals[p] = rendered.oids.get(content) ?? gitBlobId(content);
        writeGlobalsManifest(stateDir, globals);
      }
      // Read again from the shards if anyone asks (the daemon's drift check loads its own state).
      (state as { manifest?: Record<string, string> }).manifest = undefined;
    }
  }

  function finish(record = true): SyncOutcome {
    result.mode = mode;
    result.durationMs = Date.now() - started;
    if (record && !opts.dryRun) {
      const wasFailing = state.consecutiveFailures > 0;
      recoveredAfter = state.consecutiveFailures;
      state.lastSync = result;
      if (result.success) {
        state.consecutiveFailures = 0;
        if (wasFailing) extraEvents.push('sync.recovered');
        if (opts.onDemand && state.disabled) delete state.disabled;
      } else {
        state.consecutiveFailures += 1;
        if (cfg.sync.disableOnFailure && cfg.sync.automatic && !state.disabled && result.errorCode !== 'E_FULL_WHILE_AUTOMATIC') {
          state.disabled = { reason: result.error ?? 'sync failed', time: new Date().toISOString(), commit: result.toCommit };
          extraEvents.push('sync.disabled');
        }
      }
      if (result.errorCode !== 'E_FULL_WHILE_AUTOMATIC') saveState(stateDir, state);
    }
    return { result, plan, patches, extraEvents, state, recoveredAfter };
  }
}

/**
 * Two services of the standby may not bind one ip:port: checked against the domains left as they
 * are (the applied bindings in `state`, read from their file on first use; not by a full sync).
 */
function checkBindings(fresh: Record<string, string[]>, state: StandbyState, plan: SyncPlan, commit: string, domainsDir: string): void {
  // admit.ts's rule: one ip:port per service, and a wildcard overlaps its family on that port.
  const index = new BindingIndex();
  const replaced = new Set([...plan.load, ...plan.delete]);
  if (plan.mode === 'partial') {
    // The stored bindings are conflict-free: every apply passed this check before they were
    // written, and they change only with an apply. A partial sync keeps every other domain as it
    // is and deleting a domain only frees bindings, so when each loaded domain binds exactly what
    // it bound before (a user change, the common case) the result binds what the applied state
    // does and cannot conflict: no map of every domain's bindings (30,000 at 10,000 domains).
    if (plan.load.every((d) => sameBindings(state, d, fresh[d]))) return;
    for (const [d, list] of Object.entries(state.bindings)) if (!replaced.has(d)) for (const b of list) index.add(factOf(b, d));
  }
  for (const [d, list] of Object.entries(fresh)) {
    for (const b of list) {
      const other = index.add(factOf(b, d));
      if (other !== undefined) {
        const mine = splitBinding(b);
        const theirs = other.ip === mine.ip ? '' : `overlaps ${hostPort(other.ip, other.port)}, which `;
        throw new GitfailoverError(
          'E_DUPLICATE_BINDING',
          `commit ${commit.slice(0, 12)} is refused: ${domainsDir}/${d}/services.yaml: domain ${d} binds ${b} (after IP substitution), which ${theirs}domain ${other.domain === d ? 'itself already binds' : `${other.domain} already binds`}. Nothing was applied`,
          { kind: 'stalling', location: { file: `${domainsDir}/${d}/services.yaml`, commit } },
        );
      }
    }
  }
}

function factOf(binding: string, domain: string): BindingFact {
  const { ip, port } = splitBinding(binding);
  return { file: domain, line: 1, col: 1, service: '', ip, port, domain };
}

async function applyPlan(
  cfg: NodeConfig,
  loader: Loader,
  plan: SyncPlan,
  rendered: Rendered,
  target: string,
  opts: SyncOptions,
  state: StandbyState,
  repo: NodeRepo,
  domainsDir: string,
  renderOpts: RenderOptions,
): Promise<void> {
  const loaderCtx: LoaderContext = { node: cfg.node, commit: target, start: Boolean(cfg.sync.startAfterSync || opts.start), log: opts.log };
  loader.prepare(loaderCtx);
  const ctx = (action: 'load' | 'start' | 'delete' | 'reload' | 'check', domain?: string) => ({
    action,
    node: cfg.node,
    commit: target,
    domain,
    dir: domain ? loader.domainDir(domain) : cfg.live.dir,
    timeoutMs: cfg.commands.timeout,
  });
  const start = cfg.sync.startAfterSync || opts.start;
  // Everything this apply changed so far, so that a failure puts it all back (nothing half-applied).
  const swapped: string[] = [];
  const globals: string[] = [];
  try {
    for (const d of plan.delete) {
      if (cfg.commands.delete) await runCommand(cfg.commands.delete, ctx('delete', d));
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
      loader.writeDomain(d, rendered.domains.get(d)!);
      swapped.push(d);
      if (cfg.commands.load) await runCommand(cfg.commands.load, ctx('load', d));
      if (start && cfg.commands.start) await runCommand(cfg.commands.start, ctx('start', d));
      if (cfg.commands.check) {
        try {
          await runCommand(cfg.commands.check, ctx('check', d));
        } catch (err) {
          state.quarantined = { commit: target, reason: errorMessage(err), domains: [d], time: new Date().toISOString() };
          throw new GitfailoverError('E_CHECK_FAILED', `health check of domain ${d} failed at commit ${target.slice(0, 12)}; the domain was put back as the last good commit had it and the commit is quarantined: ${errorMessage(err)}`, {
            kind: 'stalling',
            location: { commit: target, file: `${domainsDir}/${d}` },
          });
        }
      }
    }
    // One reload for the whole apply (the server re-reads everything at once), then wait until it serves.
    await loader.activate?.(loaderCtx);
    opts.progress?.(plan.load.length, plan.load.length);
    if (plan.globalChanged && cfg.commands.reload) await runCommand(cfg.commands.reload, ctx('reload'));
  } catch (err) {
    await rollback(cfg, loader, swapped, globals, state.appliedCommit, repo, domainsDir, renderOpts);
    // Make the server read what was put back; the original error is the one to report.
    await loader.activate?.({ ...loaderCtx, start: false }).catch(() => {});
    clearJournal(cfg.repo.stateDir);
    throw err;
  }
}

/**
 * Put the domains and files this apply already changed back as the applied commit had them, and
 * load those domains again.
 */
async function rollback(
  cfg: NodeConfig,
  loader: Loader,
  domains: string[],
  globals: string[],
  applied: string | undefined,
  repo: NodeRepo,
  domainsDir: string,
  renderOpts: RenderOptions,
): Promise<void> {
  if (domains.length + globals.length === 0) return;
  if (!applied) {
    for (const d of domains) loader.deleteDomain(d);
    for (const p of globals) loader.removeGlobal(p);
    return;
  }
  const files = await readTarget(repo, applied, { domains, globals }, { domainsDir, maxFileSize: Number.MAX_SAFE_INTEGER });
  const previous = new Map(files.globals.map((f) => [f.path, f]));
  for (const p of globals) {
    const f = previous.get(p);
    if (f) loader.writeGlobal(p, renderFile(f.path, f.content, renderOpts));
    else loader.removeGlobal(p);
  }
  for (const d of domains) {
    const dfiles = files.domains.get(d) ?? [];
    if (dfiles.length === 0) {
      loader.deleteDomain(d);
      continue;
    }
    const prefix = `${domainsDir}/${d}/`;
    loader.writeDomain(d, new Map(dfiles.map((f) => [f.path.slice(prefix.length), renderFile(f.path, f.content, renderOpts)])));
    if (cfg.commands.load) {
      await runCommand(cfg.commands.load, { action: 'load', node: cfg.node, commit: applied, domain: d, dir: loader.domainDir(d), timeoutMs: cfg.commands.timeout }).catch(() => {});
    }
  }
}

function dryRunPatches(liveDir: string, rendered: Rendered, plan: SyncPlan, loader: Loader, domainsDir: string): string[] {
  const patches: string[] = [];
  const patch = (path: string, next: Buffer | undefined) => {
    const file = join(liveDir, path);
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const after = next?.toString('utf8') ?? '';
    if (before !== after) patches.push(createTwoFilesPatch(existsSync(file) ? `a/${path}` : '/dev/null', next ? `b/${path}` : '/dev/null', before, after));
  };
  for (const [d, files] of rendered.domains) for (const [rel, content] of files) patch(`${domainsDir}/${d}/${rel}`, content);
  for (const [p, content] of rendered.globals) patch(p, content);
  for (const d of plan.delete) patches.push(`domain ${d} would be deleted (${loader.domainDir(d)})\n`);
  for (const p of plan.removeGlobal) patch(p, undefined);
  return patches;
}

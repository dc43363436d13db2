import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTwoFilesPatch } from 'diff';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError, classOf, errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import type { FsOps } from '../loaders/fs-ops.js';
import type { Loader, LoaderContext } from '../loaders/loader.js';
import { makeLoader } from '../loaders/make-loader.js';
import {
  admitCount,
  BindingIndex,
  hostPort,
  isAdmitted,
  splitBinding,
  unmappedBindings,
  type BindingFact,
} from '../model/admit.js';
import { classifyPath, domainsDirOf } from '../model/layout.js';
import { gitBlobId } from '../model/tree-source.js';
import { renderFile, type RenderOptions } from '../render/render-file.js';
import { withLock } from '../repo/lock.js';
import { assertMayApply } from '../node-state/role-state.js';
import { redact } from '../util/redact.js';
import { maskSecretFields } from '../util/redact.js';
import { NodeRepo, type LsEntry } from '../repo/node-repo.js';
import { SECRET_CHANGED } from '../secrets/marks.js';
import { openRenderedSecrets, openTargetSecrets, SecretOpener } from '../secrets/render-secrets.js';
import { verifyRange } from '../repo/signatures.js';
import { CheckedBlobs } from './checked-blobs.js';
import { keepUnrecorded } from './keep-unrecorded.js';
import { renderOptionsOf, type RenderSettings } from './check-render.js';
import { CheckWork, type Rendered } from './check-work.js';
import {
  loadGlobalsManifest,
  removeDomainManifestsExcept,
  writeDomainManifest,
  writeGlobalsManifest,
} from './manifest-store.js';
import { planFull, planIsEmpty, planPartial, type SyncPlan } from './plan.js';
import { checkDomainName, checkLiveShape, checkTargetPath, readTarget, refusal } from './read-target.js';
import {
  clearJournal,
  loadJournal,
  loadState,
  sameBindings,
  saveBindings,
  saveJournal,
  saveState,
  storedBindingsOf,
  type Journal,
  type StandbyState,
  type SyncResult,
} from './state.js';
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
  /**
   * The primary applying commits it did not make (record/incoming.ts): `from` is the commit the
   * live dir holds now (live edits included) and `to` the merged commit. `from` need not be an
   * ancestor of `to`; the caller fetched, verified and holds the record lock.
   */
  primaryApply?: { from: string };
  /** The files loader's file-system calls: a test seam for the fault-injection trials only. */
  fsOps?: FsOps;
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
  if (!opts.dryRun && !opts.primaryApply) assertMayApply(cfg);
  const started = Date.now();
  const stateDir = cfg.repo.stateDir;
  const domainsDir = domainsDirOf(cfg.live.domains);
  const state = loadState(stateDir, { domainsDir });
  // The primary's live dir holds `from`: the rollback puts that back, not an older applied commit.
  if (opts.primaryApply) state.appliedCommit = opts.primaryApply.from;
  // The primary's apply is derived again from its live dir each time (record/incoming.ts): an interrupted one needs no journal.
  const journal = opts.dryRun || opts.primaryApply ? undefined : loadJournal(stateDir);
  const applied = state.appliedCommit;
  // An interrupted apply (a kill, or a rollback that could not finish) is not resumed towards its
  // own target, which may be the very commit that failed: this sync goes to the newest target and
  // brings whatever the journal says may have changed in line with it. A full apply's journal
  // lists no domains, so only another full sync reaches all it may have changed.
  const mode: 'partial' | 'full' =
    opts.full || !applied || (journal !== undefined && (journal.mode === 'full' || !journal.domains))
      ? 'full'
      : 'partial';
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
  /** What repo.verify trusts once the target is applied. */
  let verifiedAnchor: string | undefined;
  let patches: string[] | undefined;
  let discardStaged: (() => void) | undefined;
  let headCommit: string | undefined;
  let loader: Loader | undefined;
  let applyStarted = false;
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
    const head = opts.primaryApply ? opts.to : await repo.fetch(cfg.sync.timeout);
    headCommit = head;
    mark('fetch');
    let target: string | undefined;
    if (journal)
      opts.log?.(
        `an interrupted ${journal.mode} sync to ${journal.target.slice(0, 12)} is brought in line with this sync's target`,
      );
    if (opts.to) {
      target = await repo.resolve(opts.to);
      if (!target)
        throw new GitfailoverError(
          'E_BAD_REV',
          `--to ${opts.to}: no such commit in ${redact(cfg.repo.remote)} (fetched ${cfg.repo.branch})`,
          { kind: 'stalling' },
        );
    } else {
      target = head;
    }
    result.toCommit = target;
    if (!target) {
      result.success = true;
      result.upToDate = true;
      return finish();
    }
    const theLoader = makeLoader(cfg, domainsDir, opts.fsOps);
    loader = theLoader;
    discardStaged = () => theLoader.discardStaged?.();
    const loaderCtx: LoaderContext = {
      node: cfg.node,
      commit: target,
      start: Boolean(cfg.sync.startAfterSync || opts.start),
      log: opts.log,
    };
    if (!journal && target === applied && mode === 'partial') {
      loader.finish(); // what a clean-up that failed earlier left in staging (best effort)
      result.success = true;
      result.upToDate = true;
      // Recorded only when it changes something: it ends a failed last sync (a remote that is back),
      // and an operator's sync at the head ends a pin or a failure's disable (endOrKeepPin).
      return finish(
        Boolean(
          !opts.dryRun && (state.lastSync?.success === false || (opts.onDemand && (state.pinned || state.disabled))),
        ),
      );
    }
    if (!journal && !opts.onDemand && state.quarantined?.commit === target) {
      result.success = true;
      result.upToDate = true;
      result.error = `commit ${target.slice(0, 12)} is quarantined: ${state.quarantined.reason}`;
      return finish(false);
    }
    // `--to` an older commit of the branch is a pin back in history: the tree diff applies it like any other.
    if (
      mode === 'partial' &&
      !opts.primaryApply &&
      !(await repo.isAncestor(applied!, target)) &&
      !(opts.to && (await repo.isAncestor(target, applied!)))
    ) {
      throw opts.to
        ? new GitfailoverError(
            'E_PIN_NOT_IN_HISTORY',
            `--to ${opts.to}: commit ${target.slice(0, 12)} is neither older nor newer than the applied commit ${applied!.slice(0, 12)} on ${cfg.repo.branch} (it is on another line of history), so a partial sync cannot get there and nothing was applied. To load it whole, run "gitfailover sync --disable", then "gitfailover sync --full --to ${opts.to}"`,
            { kind: 'stalling', location: { commit: target } },
          )
        : new GitfailoverError(
            'E_HISTORY_REWRITTEN',
            `the remote head ${target.slice(0, 12)} does not descend from the applied commit ${applied!.slice(0, 12)}: the remote's history was rewritten (or this node applied a commit the remote no longer has), so a partial sync is refused. Check the remote, then run "gitfailover sync --disable" and "gitfailover sync --full" to reload everything`,
            { kind: 'stalling', location: { commit: target } },
          );
    }
    // One rule for partial and full syncs (signatures.ts): every change above the trusted anchor.
    // The primary's apply (incoming.ts) verified the remote's commits with the same rule before building on them.
    if (cfg.repo.verify && !opts.primaryApply)
      verifiedAnchor = (
        await verifyRange(repo, {
          anchor: state.verifiedCommit,
          target,
          verify: cfg.repo.verify,
          file: cfg.file,
          stateDir,
        })
      ).anchor;
    // A partial sync got here only because applied is an ancestor: no second merge-base process (~15 ms).
    result.commits = (
      await repo.log(
        applied && (mode === 'partial' || (await repo.isAncestor(applied, target))) ? `${applied}..${target}` : target,
        [],
        50,
      )
    ).map((c) => ({
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
        const before =
          state.files ?? (await repo.lsTree(applied!)).filter((e) => e.type !== 'tree' && isAdmitted(e.path)).length;
        filesAfter = before + added - removed;
        const over = admitCount(filesAfter, {
          domainsDir,
          maxFileSize: cfg.repo.maxFileSize,
          maxFiles: cfg.repo.maxFiles,
        });
        if (over.length > 0) throw refusal(over[0]!, target);
      }
      const touched = new Set(
        diff.map((d) => classifyPath(d.path, domainsDir)).flatMap((c) => (c.kind === 'domain' ? [c.domain] : [])),
      );
      for (const d of journal?.domains ?? []) touched.add(d);
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
      const interruptedGlobals = await Promise.all(
        (journal?.globals ?? []).map(async (path) => ({
          path,
          inTarget: (await repo.blobs.read(`${target}:${path}`))?.type === 'blob',
        })),
      );
      plan = planPartial(diff, domainsDir, (d) => present.has(d), {
        domains: journal?.domains ?? [],
        globals: interruptedGlobals,
      });
    } else {
      fullListing = await repo.lsTree(target);
      filesAfter = fullListing.filter((e) => e.type !== 'tree' && isAdmitted(e.path)).length;
      const previousGlobals = [
        ...new Set([...Object.keys(loadGlobalsManifest(stateDir)), ...(journal?.globals ?? [])]),
      ].filter((p) => classifyPath(p, domainsDir).kind === 'global');
      plan = planFull(
        fullListing.map((e) => e.path),
        loader.liveDomains(),
        previousGlobals,
        domainsDir,
      );
      for (const d of plan.load) checkDomainName(d, target, domainsDir);
    }
    if (plan.writeGlobal.includes(domainsDir)) {
      // The one type clash an apply could otherwise carry out: the domains folder itself replaced by a file.
      throw new GitfailoverError(
        'E_TYPE_CLASH',
        `commit ${target.slice(0, 12)} is refused: it has a file named ${domainsDir} where live.domains (${cfg.live.domains} in ${cfg.file}) keeps the domains folder. Nothing was applied; remove the file in the repo (or revert the commit) and push`,
        { kind: 'stalling', location: { file: domainsDir, commit: target } },
      );
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
      const files = await readTarget(
        repo,
        target,
        { domains: plan.load, globals: plan.writeGlobal, all: mode === 'full' },
        {
          domainsDir,
          maxFileSize: cfg.repo.maxFileSize,
          maxFiles: cfg.repo.maxFiles,
          listing: fullListing,
          onBatch: (b, complete) => work.add(b, complete),
        },
      );
      rendered = await work.finish(files, target);
    } finally {
      await work.close();
    }
    if (!opts.dryRun) checked?.save(mode === 'full');
    // Secrets (`x.age`) are opened here, before anything is applied: one this node cannot open refuses the sync.
    const secretPaths = await openRenderedSecrets(
      new SecretOpener(cfg, target, renderOpts),
      rendered,
      plan,
      domainsDir,
    );
    mark('read+check+render');
    checkBindings(rendered.bindings, state, plan, target, domainsDir);
    if (opts.primaryApply) keepUnrecorded(cfg, rendered.domains, domainsDir, rendered.globals);
    // Substitution never passes production's address silently: refused with substitution.strict,
    // else reported (log, substitution.unmapped event) and `ready` fails until it is mapped or kept.
    const unmapped = unmappedBindings(rendered.bindings, cfg.substitution.ips, cfg.substitution.keep);
    if (unmapped.length > 0) {
      const u = unmapped[0]!;
      const what = `${domainsDir}/${u.domain}/services.yaml: ${hostPort(u.ip, u.port)} is not in substitution.ips of ${cfg.file}, so the failover would listen on production's address`;
      if (cfg.substitution.strict) {
        throw new GitfailoverError(
          'E_IP_NOT_SUBSTITUTED',
          `commit ${target.slice(0, 12)} is refused: ${what}${unmapped.length > 1 ? ` (and ${unmapped.length - 1} more)` : ''}. Nothing was applied; map it under substitution.ips, or list it under substitution.keep if it is shared on purpose`,
          {
            kind: 'stalling',
            location: { file: `${domainsDir}/${u.domain}/services.yaml`, commit: target },
          },
        );
      }
      for (const x of unmapped)
        opts.log?.(
          `warning: ${domainsDir}/${x.domain}/services.yaml: ${hostPort(x.ip, x.port)} is not in substitution.ips: the failover would listen on production's address (map it, or list it under substitution.keep)`,
        );
      result.unmapped = unmapped;
    }

    if (opts.dryRun) {
      patches = dryRunPatches(cfg.live.dir, rendered, plan, loader, domainsDir, secretPaths);
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
    saveJournal(stateDir, journalOf(plan, target, applied, result.time));
    applyStarted = true;
    await applyPlan(cfg, loader, plan, rendered, target, opts, state, repo, domainsDir, renderOpts, journal);
    mark('apply');
    commitState(target, rendered, filesAfter);
    result.success = true;
    // The applied commit reaches disk before the journal goes, and staging is cleared before it
    // too: a kill between clearing the journal and saving the state left the live dir at the
    // target while the state named the previous commit, and the restart saw nothing to do (the
    // kill trials found it). finish() is that save (state.json, fsync'd): it also records
    // lastSync, so one write instead of two, and a kill before it resumes from the journal as before.
    const outcome = finish();
    loader.finish(); // best effort: staging only
    clearJournal(stateDir);
    mark('state');
    return outcome;
  } catch (err) {
    try {
      discardStaged?.(); // domains built ahead of an apply that will not happen
    } catch {
      // staging debris only; the next prepare() clears it
    }
    let e = err instanceof GitfailoverError ? err : fsErrorSentence(err, result.toCommit, applyStarted);
    if (journal && !applyStarted && !opts.dryRun && journal.mode === 'partial' && journal.domains) {
      // Refused before its apply, after an interrupted one: put what the journal names back as
      // the applied commit has it, so the live dir is not left between two commits.
      try {
        const l = loader ?? makeLoader(cfg, domainsDir, opts.fsOps);
        l.prepare({ node: cfg.node, commit: applied ?? '', start: false, log: opts.log });
        await rollback(
          cfg,
          l,
          journal.domains,
          journal.globals ?? [],
          applied,
          repo,
          domainsDir,
          renderOptionsOf({ substitution: cfg.substitution, file: cfg.file, domainsDir }),
        );
        await l.activate?.({ node: cfg.node, commit: applied ?? '', start: false, log: opts.log }).catch(() => {}); // the server reads what was put back
        l.finish();
        clearJournal(stateDir);
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
    return finish();
  }

  /** Record the applied commit (saved by finish()), its bindings and manifest shards. */
  function commitState(target: string, rendered?: Rendered, files?: number): void {
    state.appliedCommit = target;
    if (verifiedAnchor) state.verifiedCommit = verifiedAnchor;
    if (files !== undefined) state.files = files;
    if (rendered && plan) {
      // The bindings file is rewritten only when a binding changed (a user change leaves them
      // as they are); state.json names the new file, so the switch lands with the applied commit.
      const changed =
        plan.mode === 'full' ||
        plan.delete.some((d) => storedBindingsOf(state, d) !== undefined) ||
        [...rendered.domains.keys()].some((d) => !sameBindings(state, d, rendered.bindings[d]));
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
        for (const [rel, content] of dfiles)
          entries[`${domainsDir}/${d}/${rel}`] = rendered.oids.get(content) ?? gitBlobId(content);
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
    // A usage error (sync --full while automatic is on, --to no such commit) is the operator's
    // typing, not a sync: nothing is recorded and no event fires.
    if (record && !opts.dryRun && result.errorClass !== 'usage') {
      const wasFailing = state.consecutiveFailures > 0;
      recoveredAfter = state.consecutiveFailures;
      if (!(result.success && result.upToDate && state.lastSync?.success)) state.lastSync = result; // an up-to-date check does not hide the last apply
      if (result.success) {
        state.consecutiveFailures = 0;
        if (wasFailing) extraEvents.push('sync.recovered');
        if (result.toCommit && state.appliedCommit === result.toCommit) delete state.quarantined; // it applied and passed its checks
        endOrKeepPin();
      } else {
        state.consecutiveFailures += 1;
        // Only the repo's content disables automatic sync: a remote that is down or a busy lock is
        // retried (with backoff by the daemon) and must not need an operator once it is back.
        if (result.errorClass === 'content' && cfg.sync.disableOnFailure && cfg.sync.automatic && !state.disabled) {
          state.disabled = {
            reason: result.error ?? 'sync failed',
            time: new Date().toISOString(),
            commit: result.toCommit,
            cause: 'failure',
          };
          extraEvents.push('sync.disabled');
        }
      }
      saveState(stateDir, state);
    }
    return { result, plan, patches, extraEvents, state, recoveredAfter };
  }

  /**
   * `--to` anything but the head pins this node there and turns automatic sync off (else the
   * daemon would move it on at once); an operator's sync to the head ends the pin and a failure's
   * disable. An operator's --disable stays until --enable.
   */
  function endOrKeepPin(): void {
    if (!opts.onDemand || !result.toCommit) return;
    if (opts.to && result.toCommit !== headCommit) {
      state.pinned = { commit: result.toCommit, time: new Date().toISOString() };
      if (state.disabled?.cause !== 'operator') {
        state.disabled = {
          reason: `pinned to ${result.toCommit.slice(0, 12)} by "gitfailover sync --to" ("gitfailover sync --enable" un-pins)`,
          time: new Date().toISOString(),
          commit: result.toCommit,
          cause: 'pin',
        };
      }
      result.pinned = true;
      return;
    }
    delete state.pinned;
    if (state.disabled && state.disabled.cause !== 'operator') delete state.disabled;
  }
}

/**
 * Two services of the standby may not bind one ip:port: checked against the domains left as they
 * are (the applied bindings in `state`, read from their file on first use; not by a full sync).
 */
function checkBindings(
  fresh: Record<string, string[]>,
  state: StandbyState,
  plan: SyncPlan,
  commit: string,
  domainsDir: string,
): void {
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
    for (const [d, list] of Object.entries(state.bindings))
      if (!replaced.has(d)) for (const b of list) index.add(factOf(b, d));
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
  interrupted: Journal | undefined,
): Promise<void> {
  const loaderCtx: LoaderContext = {
    node: cfg.node,
    commit: target,
    start: Boolean(cfg.sync.startAfterSync || opts.start),
    log: opts.log,
  };
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
      swapped.push(d); // before the write: a write that fails half-way is put back too
      loader.writeDomain(d, rendered.domains.get(d)!);
      if (cfg.commands.load) await runCommand(cfg.commands.load, ctx('load', d));
      if (start && cfg.commands.start) await runCommand(cfg.commands.start, ctx('start', d));
      if (cfg.commands.check) {
        try {
          await runCommand(cfg.commands.check, ctx('check', d));
        } catch (err) {
          state.quarantined = {
            commit: target,
            reason: errorMessage(err),
            domains: [d],
            time: new Date().toISOString(),
          };
          throw new GitfailoverError(
            'E_CHECK_FAILED',
            `health check of domain ${d} failed at commit ${target.slice(0, 12)}; the domain was put back as the last good commit had it and the commit is quarantined: ${errorMessage(err)}`,
            {
              kind: 'stalling',
              location: { commit: target, file: `${domainsDir}/${d}` },
            },
          );
        }
      }
    }
    // One reload for the whole apply (the server re-reads everything at once), then wait until it serves.
    await loader.activate?.(loaderCtx);
    opts.progress?.(plan.load.length, plan.load.length);
    if (plan.globalChanged && cfg.commands.reload) await runCommand(cfg.commands.reload, ctx('reload'));
  } catch (err) {
    // What an interrupted apply before this one changed goes back too, so the live dir ends at
    // the applied commit and not between it and either target.
    const domains = [...new Set([...swapped, ...(interrupted?.domains ?? [])])];
    const globalPaths = [...new Set([...globals, ...(interrupted?.globals ?? [])])];
    try {
      await rollback(cfg, loader, domains, globalPaths, state.appliedCommit, repo, domainsDir, renderOpts);
    } catch (rbErr) {
      // The journal stays: the next sync (automatic or --full) brings what it names in line.
      throw withRollbackFailure(err, rbErr, target);
    }
    // Make the server read what was put back; the original error is the one to report.
    await loader.activate?.({ ...loaderCtx, start: false }).catch(() => {});
    loader.finish(); // nothing of this apply left in staging
    // A full apply interrupted earlier may have changed domains no journal names: keep its journal
    // so that the next sync is full again.
    if (interrupted && (interrupted.mode === 'full' || !interrupted.domains))
      saveJournal(cfg.repo.stateDir, interrupted);
    else clearJournal(cfg.repo.stateDir);
    throw applyError(err, target, state.appliedCommit);
  }
}

/** `EIO (i/o error) at <path>` for a Node file-system error, its message otherwise. */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { dest?: string };
  if (!e || typeof e.code !== 'string' || !/^E[A-Z]+$/.test(e.code)) return errorMessage(err);
  const what = (e.message ?? '').replace(/^[A-Z]+: /, '').split(',')[0];
  return `${e.code} (${what})${e.path ? ` at ${e.path}${e.dest ? ` -> ${e.dest}` : ''}` : ''}`;
}

/** Any other error of a sync as one sentence naming the commit and whether the live dir changed. */
function fsErrorSentence(err: unknown, target: string | undefined, liveTouched: boolean): GitfailoverError {
  const commit = target ? ` to commit ${target.slice(0, 12)}` : '';
  return new GitfailoverError(
    'E_SYNC',
    `the sync${commit} failed: ${errnoText(err)}${liveTouched ? '' : '; the live dir was not changed'}. Fix the cause (permissions, a full disk, a file where a folder belongs), then sync again`,
    { cause: err, location: target ? { commit: target } : {} },
  );
}

/** A raw file-system error of the apply as a sentence naming the commit, the file and the outcome. */
function applyError(err: unknown, target: string, applied: string | undefined): unknown {
  if (err instanceof GitfailoverError) return err;
  const back = applied
    ? `the live dir was put back as commit ${applied.slice(0, 12)} had it`
    : 'what it had written was removed';
  return new GitfailoverError(
    'E_APPLY',
    `applying commit ${target.slice(0, 12)} failed: ${errnoText(err)}; ${back}. Fix the cause (a file where the repo has a folder, a full disk, permissions), then sync again`,
    { kind: 'stalling', location: { commit: target }, cause: err },
  );
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

/** The original failure, with a sentence saying the rollback did not finish and what happens next. */
function withRollbackFailure(err: unknown, rbErr: unknown, target?: string): GitfailoverError {
  const e = err instanceof GitfailoverError ? err : fsErrorSentence(err, target, true);
  return new GitfailoverError(
    e.code,
    `${e.message}; putting the live dir back as the applied commit had it did not finish either (${errnoText(rbErr)}): the apply journal is kept and the next sync brings the live dir in line with its target`,
    { kind: e.kind, location: e.location, data: { ...e.data, rollbackError: errorMessage(rbErr) }, cause: err },
  );
}

/** How often a rollback step that failed is tried again: each step is idempotent, and a transient EIO or EBUSY must not leave a domain half-restored. */
const ROLLBACK_ATTEMPTS = 3;

/**
 * Put the domains and files this apply already changed back as the applied commit had them, and
 * load those domains again. Total: every step is tried even when an earlier one failed, and a
 * failed step is tried again (each is idempotent); it throws only when a step still fails.
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
  const steps: (() => Promise<void> | void)[] = [];
  if (!applied) {
    for (const p of globals) steps.push(() => loader.removeGlobal(p));
    for (const d of domains) steps.push(() => loader.deleteDomain(d));
  } else {
    // A secret is `x.age` in the commit and `x` in the live dir: read either, open what is sealed.
    const files = await readTarget(
      repo,
      applied,
      { domains, globals: [...globals, ...globals.map((p) => `${p}.age`)] },
      { domainsDir, maxFileSize: Number.MAX_SAFE_INTEGER },
    );
    const opener = new SecretOpener(cfg, applied, renderOpts);
    for (const list of [files.globals, ...files.domains.values()]) await openTargetSecrets(opener, list);
    const previous = new Map(files.globals.map((f) => [f.path, f]));
    // Globals first: a global file where the applied commit has a domains folder must go before
    // that folder can be put back.
    for (const p of [...globals].sort((a, b) => Number(previous.has(a)) - Number(previous.has(b)))) {
      const f = previous.get(p);
      steps.push(
        f ? () => loader.writeGlobal(p, renderFile(f.path, f.content, renderOpts)) : () => loader.removeGlobal(p),
      );
    }
    for (const d of domains) {
      const dfiles = files.domains.get(d) ?? [];
      if (dfiles.length === 0) {
        steps.push(() => loader.deleteDomain(d));
        continue;
      }
      const prefix = `${domainsDir}/${d}/`;
      const rendered = new Map(
        dfiles.map((f) => [f.path.slice(prefix.length), renderFile(f.path, f.content, renderOpts)]),
      );
      steps.push(async () => {
        loader.writeDomain(d, rendered);
        if (cfg.commands.load) {
          await runCommand(cfg.commands.load, {
            action: 'load',
            node: cfg.node,
            commit: applied,
            domain: d,
            dir: loader.domainDir(d),
            timeoutMs: cfg.commands.timeout,
          }).catch(() => {});
        }
      });
    }
  }
  let pending = steps;
  let lastError: unknown;
  for (let attempt = 0; attempt < ROLLBACK_ATTEMPTS && pending.length > 0; attempt++) {
    const failed: typeof steps = [];
    for (const step of pending) {
      try {
        await step();
      } catch (err) {
        lastError = err;
        failed.push(step);
      }
    }
    pending = failed;
  }
  if (pending.length > 0) throw lastError;
}

function dryRunPatches(
  liveDir: string,
  rendered: Rendered,
  plan: SyncPlan,
  loader: Loader,
  domainsDir: string,
  secrets: ReadonlySet<string>,
): string[] {
  const patches: string[] = [];
  const patch = (path: string, next: Buffer | undefined) => {
    const file = join(liveDir, path);
    if (secrets.has(path)) {
      const old = existsSync(file) ? readFileSync(file) : undefined;
      if (!next || !old?.equals(next))
        patches.push(`${path}: ${next ? (old ? SECRET_CHANGED : '<secret added>') : '<secret removed>'}\n`);
      return;
    }
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const after = next?.toString('utf8') ?? '';
    if (before !== after)
      patches.push(
        maskSecretFields(
          createTwoFilesPatch(
            existsSync(file) ? `a/${path}` : '/dev/null',
            next ? `b/${path}` : '/dev/null',
            before,
            after,
          ),
        ),
      );
  };
  for (const [d, files] of rendered.domains) {
    for (const [rel, content] of files) patch(`${domainsDir}/${d}/${rel}`, content);
    // A file the reload drops (a removed user) shows as a removal, not as nothing.
    for (const rel of filesUnder(join(liveDir, domainsDir, d)))
      if (!files.has(rel)) patch(`${domainsDir}/${d}/${rel}`, undefined);
  }
  for (const [p, content] of rendered.globals) patch(p, content);
  for (const d of plan.delete) patches.push(`domain ${d} would be deleted (${loader.domainDir(d)})\n`);
  for (const p of plan.removeGlobal) patch(p, undefined);
  return patches;
}

/** Files under `dir`, relative and with `/`, staging and hidden gitfailover folders left out. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.gitfailover')) continue;
    if (e.isDirectory()) out.push(...filesUnder(join(dir, e.name), `${prefix}${e.name}/`));
    else if (e.isFile()) out.push(`${prefix}${e.name}`);
  }
  return out;
}

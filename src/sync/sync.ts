import { performance } from 'node:perf_hooks';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError, errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import type { Loader, LoaderContext } from '../loaders/loader.js';
import { makeLoader } from '../loaders/make-loader.js';
import { classifyPath, domainsDirOf } from '../model/layout.js';
import { parseTree, isModelFile, sortProblems, type Problem } from '../model/parse.js';
import { normalizeIp } from '../model/schemas.js';
import { gitBlobId } from '../model/tree-source.js';
import { renderFile, type RenderOptions } from '../render/render-file.js';
import { substituteIp } from '../render/substitute.js';
import { withLock } from '../repo/lock.js';
import { assertMayApply } from '../role/role-state.js';
import { redact } from '../repo/git.js';
import { NodeRepo, type LsEntry } from '../repo/node-repo.js';
import { verifyCommits } from '../repo/signatures.js';
import { CheckedBlobs } from './checked-blobs.js';
import { CheckPool } from './check-pool.js';
import { checkAndRender, needsWork, renderOptionsOf, type FileJob, type FileVerdict, type RenderSettings } from './check-render.js';
import { clearManifest, loadGlobalsManifest, writeDomainManifest, writeGlobalsManifest } from './manifest-store.js';
import { planFull, planIsEmpty, planPartial, type SyncPlan } from './plan.js';
import { checkDomainName, checkTargetPath, READ_BATCH, readTarget, type TargetFile } from './read-target.js';
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

/** A rendered domain or global file, as it will be in the live dir. */
interface Rendered {
  domains: Map<string, Map<string, Buffer>>;
  globals: Map<string, Buffer>;
  bindings: Record<string, string[]>;
  /** The blob id of content that rendering left as it was: the manifest needs no hash of it. */
  oids: WeakMap<Buffer, string>;
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
    if (mode === 'partial') {
      const diff = await repo.diff(applied, target);
      for (const d of diff) checkTargetPath(d.path, target);
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
      const previousGlobals = Object.keys(loadGlobalsManifest(stateDir)).filter((p) => classifyPath(p, domainsDir).kind === 'global');
      plan = planFull(fullListing.map((e) => e.path), loader.liveDomains(), previousGlobals, domainsDir);
      for (const d of plan.load) checkDomainName(d, target, domainsDir);
    }
    result.domains = plan.load;
    result.deleted = plan.delete;
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
      const files = await readTarget(repo, target, { domains: plan.load, globals: plan.writeGlobal, all: mode === 'full' }, { domainsDir, maxFileSize: cfg.live.maxFileSize, listing: fullListing, onBatch: (b, complete) => work.add(b, complete) });
      rendered = await work.finish(files, target);
    } finally {
      await work.close();
    }
    if (!opts.dryRun) checked?.save(mode === 'full');
    mark('read+check+render');
    checkBindings(rendered.bindings, state, plan, target, domainsDir);

    if (opts.dryRun) {
      patches = dryRunPatches(cfg.live.dir, rendered, plan, loader, domainsDir);
      result.success = true;
      return finish(false);
    }
    if (planIsEmpty(plan) && !journal && mode === 'partial') {
      // Only metadata changed (.gitfailover/): nothing to load, but the commit is applied.
      commitState(target);
      result.success = true;
      return finish();
    }

    // The loader's own checks (e.g. proftpd -t, ports free) refuse before anything goes live.
    await loader.validate?.({ load: rendered.domains, delete: plan.delete }, loaderCtx);
    saveJournal(stateDir, { target, from: applied, mode, started: result.time });
    await applyPlan(cfg, loader, plan, rendered, target, opts, state, repo, domainsDir, renderOpts);
    mark('apply');
    commitState(target, rendered);
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
  function commitState(target: string, rendered?: Rendered): void {
    state.appliedCommit = target;
    if (rendered && plan) {
      if (plan.mode === 'full') clearManifest(stateDir);
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
      for (const d of plan.delete) writeDomainManifest(stateDir, d, undefined);
      for (const [d, dfiles] of rendered.domains) {
        const entries: Record<string, string> = {};
        for (const [rel, content] of dfiles) entries[`${domainsDir}/${d}/${rel}`] = rendered.oids.get(content) ?? gitBlobId(content);
        writeDomainManifest(stateDir, d, entries);
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
 * Checks (parse + schema) and renders the files of an apply as readTarget hands them over, on
 * the pool's workers for a large sync. Refuses on the first problem, in file order, before
 * anything is applied: every problem of every file is collected first, so the message can say
 * how many more there are.
 */
class CheckWork {
  private readonly verdicts = new Map<TargetFile, FileVerdict>();
  private readonly pending: Promise<void>[] = [];
  private readonly domainsDir: string;
  /** Started at the first full batch (a sync reading thousands of files); small syncs never pay for threads. */
  private pool: CheckPool | undefined;
  /** Each domain's files as read so far, and its rendered files once built (the same Map goes to the loader). */
  private readonly byDomain = new Map<string, TargetFile[]>();
  private readonly renderedDomains = new Map<string, Map<string, Buffer>>();
  /** Staging ahead of the apply runs batch after batch, in read order. */
  private staging: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: RenderSettings,
    private readonly opts: RenderOptions,
    private readonly checked?: CheckedBlobs,
    /** Build domains ahead of the apply (Loader.stage) as their checks pass; only with worker threads. */
    private stage?: (domain: string, files: ReadonlyMap<string, Buffer>) => void,
  ) {
    this.domainsDir = settings.domainsDir;
  }

  /** Stops the workers, after any staging still writing (so a refusal's cleanup finds it all). */
  async close(): Promise<void> {
    await this.staging.catch(() => {});
    await this.pool?.close();
  }

  add(files: TargetFile[], complete: string[] = []): void {
    if (!this.pool && files.length >= READ_BATCH) this.pool = new CheckPool(this.settings);
    const picked: TargetFile[] = [];
    const jobs: FileJob[] = [];
    const prefix = `${this.domainsDir}/`;
    for (const f of files) {
      if (this.stage && this.pool && f.path.startsWith(prefix)) {
        const d = f.path.slice(prefix.length, f.path.indexOf('/', prefix.length));
        const list = this.byDomain.get(d);
        if (list) list.push(f);
        else this.byDomain.set(d, [f]);
      }
      // A known-good blob is not checked again (content addressed): at most rendered.
      const job: FileJob = { path: f.path, content: f.content, check: isModelFile(f.path, this.domainsDir) && !this.checked?.has(f.oid, f.path) };
      if (!needsWork(job, this.opts, this.domainsDir)) continue;
      picked.push(f);
      jobs.push(job);
    }
    if (!this.pool) {
      jobs.forEach((j, i) => this.verdicts.set(picked[i]!, checkAndRender(j, this.opts, this.domainsDir)));
      return;
    }
    const run = jobs.length === 0 ? Promise.resolve() : this.pool.run(jobs).then((vs) => vs.forEach((v, i) => this.verdicts.set(picked[i]!, v)));
    run.catch(() => {}); // awaited in finish(); a failure before then is not unhandled
    this.pending.push(run);
    if (this.stage && complete.length > 0) {
      // A domain's files may span two batches, and batches finish in any order: stage in read order.
      this.staging = Promise.all([this.staging, run]).then(() => {
        for (const d of complete) this.stageDomain(d);
      });
      this.staging.catch(() => {});
    }
  }

  private stageDomain(domain: string): void {
    const files = this.byDomain.get(domain);
    this.byDomain.delete(domain);
    if (!this.stage || !files) return;
    if (files.some((f) => (this.verdicts.get(f)?.problems.length ?? 0) > 0 || this.verdicts.get(f)?.renderError)) {
      this.stage = undefined; // the sync will be refused: build nothing more
      return;
    }
    const m = this.renderedFiles(domain, files);
    try {
      this.stage(domain, m);
    } catch {
      this.stage = undefined; // e.g. a full disk: the apply writes the domain itself and reports it
    }
  }

  private renderedFiles(domain: string, files: TargetFile[]): Map<string, Buffer> {
    let m = this.renderedDomains.get(domain);
    if (m) return m;
    m = new Map<string, Buffer>();
    const cut = this.domainsDir.length + domain.length + 2;
    for (const f of files) m.set(f.path.slice(cut), this.verdicts.get(f)?.rendered ?? f.content);
    this.renderedDomains.set(domain, m);
    return m;
  }

  async finish(files: { domains: Map<string, TargetFile[]>; globals: TargetFile[] }, commit: string): Promise<Rendered> {
    await Promise.all(this.pending);
    await this.staging;
    const ordered = [...[...files.domains.values()].flat(), ...files.globals];
    const problems: Problem[] = [];
    for (const f of ordered) problems.push(...(this.verdicts.get(f)?.problems ?? []));
    if (problems.length > 0) {
      sortProblems(problems);
      const p = problems[0]!;
      const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''}: run "gitfailover validate")` : '';
      throw new GitfailoverError(
        p.code,
        `commit ${commit.slice(0, 12)} is refused: ${p.file}:${p.line}:${p.col}: ${p.field ? `${p.field}: ` : ''}${p.message}${more}. Nothing was applied; fix the file (or git revert the commit) and push`,
        { kind: 'stalling', location: { file: p.file, line: p.line, col: p.col, field: p.field, commit }, data: { problems } },
      );
    }
    if (this.checked) {
      for (const f of ordered) {
        const v = this.verdicts.get(f);
        // Checked now (not vouched for already) and passed: remembered, services with their bindings.
        if (v && isModelFile(f.path, this.domainsDir) && !this.checked.has(f.oid, f.path)) this.checked.add(f.oid, f.path, v.bindings ?? []);
      }
    }
    for (const f of ordered) {
      const e = this.verdicts.get(f)?.renderError;
      if (e) throw new GitfailoverError(e.code, `commit ${commit.slice(0, 12)} is refused: ${e.message}`, { kind: 'stalling', location: { ...e.location, file: e.location.file ?? f.path, commit } });
    }
    const out: Rendered = { domains: new Map(), globals: new Map(), bindings: {}, oids: new WeakMap() };
    for (const f of ordered) if (!this.verdicts.get(f)?.rendered) out.oids.set(f.content, f.oid);
    for (const [domain, dfiles] of files.domains) {
      const prefix = `${this.domainsDir}/${domain}/`;
      out.domains.set(domain, this.renderedFiles(domain, dfiles));
      const services = dfiles.find((f) => f.path === `${prefix}services.yaml`);
      out.bindings[domain] = services ? this.bindingsOf(services) : [];
    }
    for (const f of files.globals) out.globals.set(f.path, this.verdicts.get(f)?.rendered ?? f.content);
    return out;
  }

  /** A domain's bindings after IP substitution, from this check or the known-good list (no second parse). */
  private bindingsOf(services: TargetFile): string[] {
    const ipMap = this.opts.ipMap;
    const raw = this.verdicts.get(services)?.bindings ?? this.checked?.bindings(services.oid, services.path);
    if (raw) {
      return raw.map((b) => {
        const bar = b.lastIndexOf('|');
        const ip = b.slice(0, bar);
        return `${normalizeIp(substituteIp(ip, ipMap)) ?? ip}:${b.slice(bar + 1)}`;
      });
    }
    const parsed = parseTree([{ path: services.path, id: services.oid, text: services.content.toString('utf8') }], this.domainsDir);
    const list = [...parsed.model.domains.values()][0]?.services ?? [];
    return list.map((s) => `${normalizeIp(substituteIp(s.ip, ipMap)) ?? s.ip}:${s.port}`);
  }
}

/**
 * Two services of the standby may not bind one ip:port: checked against the domains left as they
 * are (the applied bindings in `state`, read from their file on first use; not by a full sync).
 */
function checkBindings(fresh: Record<string, string[]>, state: StandbyState, plan: SyncPlan, commit: string, domainsDir: string): void {
  const owner = new Map<string, string>();
  const replaced = new Set([...plan.load, ...plan.delete]);
  if (plan.mode === 'partial') {
    // The stored bindings are conflict-free: every apply passed this check before they were
    // written, and they change only with an apply. A partial sync keeps every other domain as it
    // is and deleting a domain only frees bindings, so when each loaded domain binds exactly what
    // it bound before (a user change, the common case) the result binds what the applied state
    // does and cannot conflict: no map of every domain's bindings (30,000 at 10,000 domains).
    if (plan.load.every((d) => sameBindings(state, d, fresh[d]))) return;
    for (const [d, list] of Object.entries(state.bindings)) if (!replaced.has(d)) for (const b of list) owner.set(b, d);
  }
  for (const [d, list] of Object.entries(fresh)) {
    for (const b of list) {
      const other = owner.get(b);
      if (other !== undefined) {
        throw new GitfailoverError(
          'E_DUPLICATE_BINDING',
          `commit ${commit.slice(0, 12)} is refused: ${domainsDir}/${d}/services.yaml: domain ${d} binds ${b} (after IP substitution), which domain ${other === d ? 'itself already binds' : `${other} already binds`}. Nothing was applied`,
          { kind: 'stalling', location: { file: `${domainsDir}/${d}/services.yaml`, commit } },
        );
      }
      owner.set(b, d);
    }
  }
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

import { performance } from 'node:perf_hooks';
import type { NodeConfig } from '../config/load.js';
import type { FsOps } from '../loaders/fs-ops.js';
import type { Loader, LoaderContext } from '../loaders/loader.js';
import { domainsDirOf } from '../model/layout.js';
import type { RenderOptions } from '../render/render-file.js';
import type { LsEntry, NodeRepo } from '../repo/node-repo.js';
import type { Progress } from '../util/progress.js';
import type { Rendered } from './check-work.js';
import type { SyncPlan } from './plan.js';
import { GitfailoverError } from '../errors.js';
import { type Journal, type StandbyState, StateStore, type SyncResult } from './state.js';

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

/** A step that ends the sync before the last one; `record: false` leaves state.json as it was. */
export interface Stop {
  record: boolean;
}

/**
 * What the steps of one sync (acquire -> plan -> prepare -> apply -> commit) read and fill in, in
 * that order: each step reads what the earlier ones set and sets its own part.
 */
export interface SyncContext {
  readonly cfg: NodeConfig;
  readonly repo: NodeRepo;
  readonly opts: SyncOptions;
  readonly stateDir: string;
  readonly domainsDir: string;
  readonly started: number;
  /** The state dir's files: every read and write of this sync goes through it. */
  readonly store: StateStore;
  /** Loaded at the start; saved once, by finish(). */
  readonly state: StandbyState;
  /** An apply that did not finish (journal.json): this sync brings what it names in line. */
  readonly journal: Journal | undefined;
  /** The commit the live dir holds when this sync starts. */
  readonly applied: string | undefined;
  readonly mode: 'partial' | 'full';
  readonly result: SyncResult;
  readonly timer: PhaseTimer;
  readonly extraEvents: SyncOutcome['extraEvents'];
  recoveredAfter: number;
  /** acquire: the remote head as fetched, and the commit this sync goes to. */
  headCommit?: string;
  target?: string;
  loader?: Loader;
  /** What repo.verify trusts once the target is applied. */
  verifiedAnchor?: string;
  /** plan: what changes, the target's file count, and (full sync) the top of its tree (read-target.ts). */
  plan?: SyncPlan;
  filesAfter?: number;
  fullTop?: LsEntry[];
  /** prepare: the checked and rendered files, and which of them were secrets. */
  renderOpts?: RenderOptions;
  rendered?: Rendered;
  secretPaths?: ReadonlySet<string>;
  patches?: string[];
  /** apply: set once the live dir may have changed. */
  applyStarted: boolean;
  /** apply: the loader wrote the plan (false when only metadata changed). */
  loaded: boolean;
}

export function newContext(cfg: NodeConfig, repo: NodeRepo, opts: SyncOptions): SyncContext {
  const started = Date.now();
  const stateDir = cfg.repo.stateDir;
  const domainsDir = domainsDirOf(cfg.live.domains);
  const store = new StateStore(stateDir);
  const state = store.read();
  if (store.unmigrated)
    throw new GitfailoverError(
      'E_STATE_UNMIGRATED',
      `${stateDir}/state.json has the layout of an older gitfailover, which this sync would lose; nothing was applied. Run any gitfailover command on this node (it migrates the state dir at start), then sync again`,
      { kind: 'stalling' },
    );
  // Bindings files state.json does not name: written by a sync that did not finish.
  if (!opts.dryRun) store.removeUnusedBindings(state.bindingsFile);
  // The primary's live dir holds `from`: the rollback puts that back, not an older applied commit.
  if (opts.primaryApply) state.appliedCommit = opts.primaryApply.from;
  // The primary's apply is derived again from its live dir each time (record/incoming.ts): an interrupted one needs no journal.
  const journal = opts.dryRun || opts.primaryApply ? undefined : store.journal();
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
  return {
    cfg,
    repo,
    opts,
    stateDir,
    domainsDir,
    started,
    store,
    state,
    journal,
    applied,
    mode,
    result,
    timer: new PhaseTimer(opts.timings),
    extraEvents: [],
    recoveredAfter: 0,
    applyStarted: false,
    loaded: false,
  };
}

/** The loader's view of this sync: one for validate, prepare, activate. */
export function loaderContext(ctx: SyncContext, commit = ctx.target ?? ''): LoaderContext {
  return {
    node: ctx.cfg.node,
    commit,
    start: Boolean(ctx.cfg.sync.startAfterSync || ctx.opts.start),
    log: ctx.opts.log,
  };
}

/** Adds the time since the last mark to a phase (SyncOptions.timings, for the bench); nothing without it. */
export class PhaseTimer {
  private lap = performance.now();
  constructor(private readonly timings: Record<string, number> | undefined) {}

  mark(phase: string): void {
    if (!this.timings) return;
    const now = performance.now();
    this.timings[phase] = (this.timings[phase] ?? 0) + now - this.lap;
    this.lap = now;
  }
}

import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';
import { hasManifestShards, loadManifest, writeManifest } from './manifest-store.js';

/** The one result shape of a sync, success or not: it is also the `sync` event's variables. */
export interface SyncResult {
  success: boolean;
  mode: 'partial' | 'full';
  fromCommit?: string;
  toCommit?: string;
  commits: { id: string; subject: string; author: string }[];
  domains: string[];
  deleted: string[];
  error?: string;
  errorCode?: string;
  errorFile?: string;
  errorCommit?: string;
  durationMs: number;
  time: string;
  dryRun?: boolean;
  /** true when nothing needed doing (already at the target). */
  upToDate?: boolean;
}

/** What a standby remembers between runs (stateDir/state.json), written only after an apply finished. */
export interface StandbyState {
  appliedCommit?: string;
  /** Set when automatic sync stopped after a failure (disableOnFailure). */
  disabled?: { reason: string; time: string; commit?: string };
  /** A commit whose health check failed: not retried until a newer commit arrives. */
  quarantined?: { commit: string; reason: string; domains: string[]; time: string };
  lastSync?: SyncResult;
  consecutiveFailures: number;
  /** Rendered bindings per domain (`ip:port` after substitution), to refuse a duplicate without reading every domain. */
  bindings: Record<string, string[]>;
  /**
   * Rendered file -> git blob id of the rendered bytes, for drift detection. Kept in
   * stateDir/manifest/ (manifest-store.ts), not in state.json; read from there on first use.
   */
  manifest: Record<string, string>;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

/**
 * The state; its `manifest` is read from the shards only when a caller uses it (status, drift),
 * so the many readers that want the applied commit do not read 10,000 files. With `domainsDir`
 * (sync), a state.json from before the shards has its manifest moved into them once.
 */
export function loadState(stateDir: string, opts: { domainsDir?: string } = {}): StandbyState {
  const p = statePath(stateDir);
  const s = existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Partial<StandbyState>) : {};
  let manifest = s.manifest;
  delete s.manifest;
  if (manifest && !hasManifestShards(stateDir) && opts.domainsDir !== undefined) {
    writeManifest(stateDir, manifest, opts.domainsDir);
    manifest = undefined;
  }
  const state = { consecutiveFailures: 0, bindings: {}, ...s } as StandbyState;
  Object.defineProperty(state, 'manifest', {
    enumerable: false,
    configurable: true,
    get: () => (manifest ??= hasManifestShards(stateDir) ? loadManifest(stateDir) : {}),
    set: (v: Record<string, string>) => (manifest = v),
  });
  return state;
}

export function saveState(stateDir: string, state: StandbyState): void {
  // A manifest not yet moved into shards stays in state.json until a sync moves it.
  const legacy = !hasManifestShards(stateDir) && Object.keys(state.manifest).length > 0;
  writeJsonAtomic(statePath(stateDir), legacy ? { ...state, manifest: state.manifest } : state);
}

/** The intent of an apply in progress: written before the live dir changes, removed after state. */
export interface Journal {
  target: string;
  from?: string;
  mode: 'partial' | 'full';
  started: string;
}

export function journalPath(stateDir: string): string {
  return join(stateDir, 'journal.json');
}

export function loadJournal(stateDir: string): Journal | undefined {
  const p = journalPath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Journal;
  } catch {
    return undefined; // torn write of the journal itself: nothing was applied after it
  }
}

export function saveJournal(stateDir: string, j: Journal): void {
  writeJsonAtomic(journalPath(stateDir), j);
}

export function clearJournal(stateDir: string): void {
  rmSync(journalPath(stateDir), { force: true });
}

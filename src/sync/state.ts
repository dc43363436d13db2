import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GitfailoverError, errorMessage, type ErrorClass } from '../errors.js';
import { hostPort, unmappedBindings, type Unmapped } from '../model/admit.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
import {
  clearStagedManifests,
  commitStagedManifests,
  loadGlobalsManifest,
  loadManifest,
  removeDomainManifestsExcept,
  stageDomainManifest,
  writeDomainManifest,
  writeDomainManifestText,
  writeGlobalsManifest,
} from './manifest-store.js';

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
  /** Service addresses loaded as production has them (substitution.ips does not map them). */
  unmapped?: Unmapped[];
  errorFile?: string;
  errorCommit?: string;
  /** The failure's class (src/errors.ts): only `content` disables automatic sync. */
  errorClass?: ErrorClass;
  durationMs: number;
  time: string;
  dryRun?: boolean;
  /** true when nothing needed doing (already at the target). */
  upToDate?: boolean;
  /** `sync --to` a commit older than the remote head: this node stays there, automatic sync off. */
  pinned?: boolean;
}

/** What a standby remembers between runs (stateDir/state.json), written only after an apply finished. */
export interface StandbyState {
  appliedCommit?: string;
  /**
   * repo.verify's trusted anchor: the newest commit this node verified (with its whole history)
   * and applied. The next sync, partial or full, checks the signatures of what lies above it.
   */
  verifiedCommit?: string;
  /**
   * Set when automatic sync is off on this node: after a content failure (disableOnFailure, until
   * a successful on-demand sync or --enable), by an operator (--disable, until --enable), or by
   * a pin (`sync --to`, until --enable or an on-demand sync to the head).
   */
  disabled?: { reason: string; time: string; commit?: string; cause?: 'failure' | 'operator' | 'pin' };
  /** `sync --to REV`: the commit this node was pinned to (automatic sync is off meanwhile). */
  pinned?: { commit: string; time: string };
  /** A commit whose health check failed: not retried until a newer commit arrives. */
  quarantined?: { commit: string; reason: string; domains: string[]; time: string };
  lastSync?: SyncResult;
  consecutiveFailures: number;
  /**
   * The file in stateDir that holds the applied bindings (rendered `ip:port` per domain, to refuse
   * a duplicate without reading every domain); kept out of state.json, which every sync rewrites.
   * state.json names it, so a sync switches to new bindings in the same atomic write that records
   * the applied commit: a crash before that write leaves state.json naming the old file, which
   * still holds the old bindings (a new file never overwrites the one state.json names).
   */
  bindingsFile?: string;
  /** Files of the applied commit (metadata aside), for repo.maxFiles without listing the tree on each partial sync. */
  files?: number;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

/** Keys an older gitfailover kept in state.json; migrateStateDir() moves them out (migrate-state.ts). */
export const LEGACY_STATE_KEYS = ['manifest', 'bindings', 'unmapped'] as const;

/**
 * A node's state dir (repo.stateDir), read and written only through explicit calls: state.json
 * (the applied commit and the last sync), the applied bindings file it names, the manifest shards
 * (manifest-store.ts) and the journal. Reads never write; migrations of older layouts are
 * migrateStateDir()'s, run once when a command or the daemon starts. Writers hold the sync lock.
 */
export class StateStore {
  /** The last bindings file read, by name: a file is never rewritten under the same name. */
  private bindingsText?: { name: string; text: string; map?: Record<string, string[]> };

  constructor(readonly dir: string) {}

  /** Whether the last read() found an older layout's keys in state.json (a dir migrateStateDir() has not seen). */
  unmigrated = false;

  /** state.json as it is (a fresh state when there is none); the keys of an older layout left out. */
  read(): StandbyState {
    const raw = readStateJson(this.dir);
    this.unmigrated = LEGACY_STATE_KEYS.some((k) => raw[k] !== undefined);
    for (const k of LEGACY_STATE_KEYS) delete raw[k];
    return { consecutiveFailures: 0, ...raw } as StandbyState;
  }

  /**
   * Write state.json (atomic, fsync'd): the commit point of a sync. The applied commit, the
   * bindings file it names and the last result change together or not at all.
   */
  write(state: StandbyState): void {
    writeJsonAtomic(statePath(this.dir), state);
  }

  /** Every domain's applied bindings (the whole file parsed). */
  bindings(state: StandbyState): Record<string, string[]> {
    const held = this.heldBindings(state);
    if (!held) return {};
    held.map ??= JSON.parse(held.text) as Record<string, string[]>;
    return held.map;
  }

  /**
   * One domain's applied bindings. Looked up in the file's text when nothing has parsed it yet: a
   * one-user partial sync wants two or three domains, and parsing the whole file would be most of
   * its state reading.
   */
  bindingsOf(state: StandbyState, domain: string): string[] | undefined {
    const held = this.heldBindings(state);
    if (!held) return undefined;
    if (!held.map) {
      const found = lookupBindings(held.text, domain);
      if (found !== null) return found;
    }
    const map = this.bindings(state);
    return Object.hasOwn(map, domain) ? map[domain] : undefined;
  }

  /** Whether `domain`'s applied bindings are exactly `fresh` (same order); none and absent are the same. */
  sameBindings(state: StandbyState, domain: string, fresh: readonly string[] | undefined): boolean {
    const x = this.bindingsOf(state, domain) ?? [];
    const y = fresh ?? [];
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }

  /**
   * Write new bindings (compact, fsync'd) to a new file and return its name. They count once
   * `state.bindingsFile` names it and write(state) has run: that is what makes the switch atomic.
   */
  writeBindings(bindings: Record<string, string[]>): string {
    mkdirSync(this.dir, { recursive: true });
    const name = `bindings-${Date.now().toString(36)}-${process.pid.toString(36)}-${(bindingsSeq++).toString(36)}.json`;
    const text = JSON.stringify(bindings);
    writeFileAtomic(join(this.dir, name), text, { fsync: true });
    this.bindingsText = { name, text, map: bindings };
    return name;
  }

  /** Remove bindings files (and their temp files) other than `keep`: superseded, or left by a sync that did not finish. */
  removeUnusedBindings(keep: string | undefined): void {
    if (!existsSync(this.dir)) return;
    for (const f of readdirSync(this.dir)) {
      if (f === keep) continue;
      if (BINDINGS_FILE.test(f) || (f.startsWith('.bindings-') && f.endsWith('.tmp')))
        rmSync(join(this.dir, f), { force: true });
    }
  }

  /** The manifest (rendered file -> blob id of its bytes, for the drift check): every shard read. */
  manifest(): Record<string, string> {
    return loadManifest(this.dir);
  }

  globalsManifest(): Record<string, string> {
    return loadGlobalsManifest(this.dir);
  }

  /** Replace one domain's manifest shard; undefined removes it (manifest-store.ts). */
  writeDomainManifest(
    domain: string,
    entries: Record<string, string> | undefined,
    opts?: { unlessSame?: boolean },
  ): void {
    writeDomainManifest(this.dir, domain, entries, opts);
  }

  /** The same, with the shard's text already built (a full sync that dropped the bytes, check-work.ts). */
  writeDomainManifestText(domain: string, text: string, opts?: { unlessSame?: boolean }): void {
    writeDomainManifestText(this.dir, domain, text, opts);
  }

  /** A full sync's shard, staged as its domain is built (manifest-store.ts); false: the shard in place says the same. */
  stageDomainManifest(domain: string, text: string): boolean {
    return stageDomainManifest(this.dir, domain, text);
  }

  commitStagedManifests(domains: Iterable<string>): void {
    commitStagedManifests(this.dir, domains);
  }

  clearStagedManifests(): void {
    clearStagedManifests(this.dir);
  }

  removeDomainManifestsExcept(keep: ReadonlySet<string>): void {
    removeDomainManifestsExcept(this.dir, keep);
  }

  writeGlobalsManifest(entries: Record<string, string>): void {
    writeGlobalsManifest(this.dir, entries);
  }

  journal(): Journal | undefined {
    return loadJournal(this.dir);
  }

  writeJournal(j: Journal): void {
    saveJournal(this.dir, j);
  }

  clearJournal(): void {
    clearJournal(this.dir);
  }

  private heldBindings(state: StandbyState): { text: string; map?: Record<string, string[]> } | undefined {
    const name = state.bindingsFile;
    if (!name) return undefined;
    if (this.bindingsText?.name !== name) this.bindingsText = { name, text: readBindingsFile(this.dir, name) };
    return this.bindingsText;
  }
}
let bindingsSeq = 0;

function readStateJson(stateDir: string): Record<string, unknown> {
  const p = statePath(stateDir);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>) : {};
}

/** The state, read-only: for the many readers that want the applied commit or the last sync. */
export function loadState(stateDir: string): StandbyState {
  return new StateStore(stateDir).read();
}

/**
 * The applied commit's service addresses that `ips` does not map and `keep` does not list, as
 * "domain ip:port": `ready`, `status` and /readyz fail on them. Derived from the stored bindings
 * (what the apply loaded, after substitution) rather than kept in state.json, which every apply
 * rewrites. Asking is rare, so the whole bindings file is parsed here; the last answer is kept
 * per bindings file, which is never rewritten under the same name.
 */
export function unmappedOf(
  stateDir: string,
  state: StandbyState,
  substitution: { ips: Readonly<Record<string, string>>; keep: readonly string[] },
): string[] {
  if (Object.keys(substitution.ips).length === 0) return [];
  const key = state.bindingsFile && JSON.stringify([stateDir, state.bindingsFile, substitution.ips, substitution.keep]);
  if (key && unmappedCache?.key === key) return unmappedCache.list;
  const bindings = new StateStore(stateDir).bindings(state);
  const list = unmappedBindings(bindings, substitution.ips, substitution.keep).map(
    (u) => `${u.domain} ${hostPort(u.ip, u.port)}`,
  );
  if (key) unmappedCache = { key, list };
  return list;
}
let unmappedCache: { key: string; list: string[] } | undefined;

/**
 * `domain`'s list in the compact JSON this file writes (`{"d":["ip:port",...],...}`): undefined
 * when it has none, null when the text is not in that shape (the caller then parses it whole).
 * A domain name is a safe segment and a binding has no quote, so `"d":[` after `{` or `,` is
 * only ever that domain's key.
 */
export function lookupBindings(text: string, domain: string): string[] | undefined | null {
  if (text !== '{}' && !text.startsWith('{"')) return null;
  const key = `"${domain}":[`;
  let at = text.indexOf(key);
  while (at > 0 && text[at - 1] !== '{' && text[at - 1] !== ',') at = text.indexOf(key, at + 1);
  if (at < 0) return undefined;
  if (at === 0) return null;
  const out: string[] = [];
  let i = at + key.length;
  while (text[i] === '"') {
    const end = text.indexOf('"', i + 1);
    if (end < 0) return null;
    const v = text.slice(i + 1, end);
    if (v.includes('\\')) return null;
    out.push(v);
    i = end + 1;
    if (text[i] === ',') i++;
  }
  return text[i] === ']' ? out : null;
}

const BINDINGS_FILE = /^bindings-[0-9a-z-]+\.json$/;

function readBindingsFile(stateDir: string, name: string): string {
  try {
    return readFileSync(join(stateDir, name), 'utf8');
  } catch (err) {
    // Without them a partial sync could not tell a duplicate binding: refuse rather than guess.
    throw new GitfailoverError(
      'E_STATE_BINDINGS',
      `cannot read ${join(stateDir, name)}, which ${statePath(stateDir)} names as the applied bindings (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}); nothing was applied. Run "gitfailover sync --full" (with automatic sync disabled) to load everything and write them again`,
      { kind: 'stalling' },
    );
  }
}

/** The intent of an apply in progress: written before the live dir changes, removed after state. */
export interface Journal {
  target: string;
  from?: string;
  mode: 'partial' | 'full';
  started: string;
  /**
   * What the apply may change besides its own plan's reach, so that the next sync puts exactly
   * these back in line whatever its target: the domains a partial apply loads or deletes (a full
   * apply lists none: the next sync is full, and a full sync reaches every domain), and the global
   * files any apply writes or removes (a full sync removes only the globals it knows of).
   */
  domains?: string[];
  globals?: string[];
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

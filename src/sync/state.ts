import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { GitfailoverError, errorMessage, type ErrorClass } from '../errors.js';
import { hostPort, unmappedBindings, type Unmapped } from '../model/admit.js';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';
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
   * Rendered bindings per domain (`ip:port` after substitution), to refuse a duplicate without
   * reading every domain. Kept in their own file in stateDir (`bindingsFile`), not in state.json:
   * they grow with the domains, and every sync reads and rewrites state.json with fsync. Read from
   * that file on first use; changed only through saveBindings().
   */
  readonly bindings: Record<string, string[]>;
  /**
   * The file in stateDir that holds `bindings`. state.json names it, so a sync switches to new
   * bindings in the same atomic write that records the applied commit: a crash before that write
   * leaves state.json naming the old file, which still holds the old bindings (a new file never
   * overwrites the one state.json names; the next sync removes the file no state names).
   */
  bindingsFile?: string;
  /**
   * Rendered file -> git blob id of the rendered bytes, for drift detection. Kept in
   * stateDir/manifest/ (manifest-store.ts), not in state.json; read from there on first use.
   */
  manifest: Record<string, string>;
  /** Files of the applied commit (metadata aside), for repo.maxFiles without listing the tree on each partial sync. */
  files?: number;
}

export function statePath(stateDir: string): string {
  return join(stateDir, 'state.json');
}

/**
 * The state; its `manifest` and `bindings` are read from their files only when a caller uses
 * them (status and drift want the manifest, a partial sync the bindings), so the many readers that
 * want the applied commit do not read every manifest shard or the whole bindings file. With `domainsDir`
 * (sync, which holds the sync lock), a state.json from before the shards has its manifest moved
 * into them once, one from before the bindings file has its bindings moved out, and bindings
 * files no state names (left by a crash or a dry run) are removed.
 */
export function loadState(stateDir: string, opts: { domainsDir?: string } = {}): StandbyState {
  const p = statePath(stateDir);
  const s = existsSync(p)
    ? (JSON.parse(readFileSync(p, 'utf8')) as Partial<StandbyState> & {
        bindings?: Record<string, string[]>;
        unmapped?: unknown;
      })
    : {};
  // An older state.json kept the unmapped addresses (domain -> ip:port); they are now read from
  // the bindings (unmappedOf), so the map is dropped and the next save leaves it out.
  delete s.unmapped;
  let manifest = s.manifest;
  delete s.manifest;
  if (manifest && !hasManifestShards(stateDir) && opts.domainsDir !== undefined) {
    writeManifest(stateDir, manifest, opts.domainsDir);
    manifest = undefined;
  }
  // Bindings in state.json are the newest there are: only a gitfailover from before the
  // bindings file writes them there (and keeps a `bindingsFile` it does not know as it was).
  const held: HeldBindings = { map: s.bindings, legacy: s.bindings !== undefined };
  delete s.bindings;
  if (held.legacy && opts.domainsDir !== undefined) {
    s.bindingsFile = writeBindingsFile(stateDir, held.map!);
    held.legacy = false;
  }
  if (opts.domainsDir !== undefined) removeUnusedBindingsFiles(stateDir, s.bindingsFile);
  const state = { consecutiveFailures: 0, ...s } as StandbyState;
  Object.defineProperty(state, 'manifest', {
    enumerable: false,
    configurable: true,
    get: () => (manifest ??= hasManifestShards(stateDir) ? loadManifest(stateDir) : {}),
    set: (v: Record<string, string>) => (manifest = v),
  });
  held.text = () => (held.raw ??= state.bindingsFile ? readBindingsFile(stateDir, state.bindingsFile) : '{}');
  Object.defineProperty(state, 'bindings', {
    enumerable: false,
    configurable: true,
    get: () => {
      const h = heldBindings.get(state)!; // saveBindings replaces it
      return (h.map ??= JSON.parse(h.text?.() ?? '{}') as Record<string, string[]>);
    },
  });
  heldBindings.set(state, held);
  return state;
}

/** A loaded state's bindings: the file's text, parsed whole only when a caller wants all of them. */
interface HeldBindings {
  map?: Record<string, string[]>;
  raw?: string;
  text?: () => string;
  /** Still to be written into state.json (an old state.json loaded without the sync lock). */
  legacy: boolean;
}
const heldBindings = new WeakMap<StandbyState, HeldBindings>();

export function saveState(stateDir: string, state: StandbyState): void {
  // A manifest not yet moved into shards stays in state.json until a sync moves it; so do bindings.
  const legacy = !hasManifestShards(stateDir) && Object.keys(state.manifest).length > 0;
  const held = heldBindings.get(state);
  const bindings = held?.legacy ? held.map : undefined;
  writeJsonAtomic(statePath(stateDir), {
    ...state,
    ...(legacy ? { manifest: state.manifest } : {}),
    ...(bindings ? { bindings } : {}),
  });
}

/**
 * Give the state new bindings: written (compact, fsync'd) to a new file that `state.bindingsFile`
 * then names. They count from the next saveState, which is what makes the switch atomic.
 */
export function saveBindings(stateDir: string, state: StandbyState, bindings: Record<string, string[]>): void {
  state.bindingsFile = writeBindingsFile(stateDir, bindings);
  heldBindings.set(state, { map: bindings, legacy: false });
}

/**
 * The applied commit's service addresses that `ips` does not map and `keep` does not list, as
 * "domain ip:port": `ready`, `status` and /readyz fail on them. Derived from the stored bindings
 * (what the apply loaded, after substitution) rather than kept in state.json, which every apply
 * rewrites: with production's addresses left unmapped, a one-user sync would rewrite every one of
 * them. Asking is rare, so the whole bindings file is parsed
 * here; the last answer is kept per bindings file, which is never rewritten under the same name.
 */
export function unmappedOf(
  state: StandbyState,
  substitution: { ips: Readonly<Record<string, string>>; keep: readonly string[] },
): string[] {
  if (Object.keys(substitution.ips).length === 0) return [];
  const key = state.bindingsFile && JSON.stringify([state.bindingsFile, substitution.ips, substitution.keep]);
  if (key && unmappedCache?.key === key) return unmappedCache.list;
  const list = unmappedBindings(state.bindings, substitution.ips, substitution.keep).map(
    (u) => `${u.domain} ${hostPort(u.ip, u.port)}`,
  );
  if (key) unmappedCache = { key, list };
  return list;
}
let unmappedCache: { key: string; list: string[] } | undefined;

/** Whether the state's bindings of `domain` are exactly `fresh` (same order); none and absent are the same. */
export function sameBindings(state: StandbyState, domain: string, fresh: readonly string[] | undefined): boolean {
  const x = storedBindingsOf(state, domain) ?? [];
  const y = fresh ?? [];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/**
 * One domain's stored bindings. Looked up in the file's text when nothing has parsed it yet: a
 * one-user partial sync wants two or three domains, and parsing the whole file would be most of
 * its state reading.
 */
export function storedBindingsOf(state: StandbyState, domain: string): string[] | undefined {
  const held = heldBindings.get(state);
  if (held?.map || !held?.text) return Object.hasOwn(state.bindings, domain) ? state.bindings[domain] : undefined;
  const found = lookupBindings(held.text(), domain);
  return found !== null ? found : Object.hasOwn(state.bindings, domain) ? state.bindings[domain] : undefined;
}

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

function writeBindingsFile(stateDir: string, bindings: Record<string, string[]>): string {
  mkdirSync(stateDir, { recursive: true });
  const name = `bindings-${Date.now().toString(36)}-${process.pid.toString(36)}-${(bindingsSeq++).toString(36)}.json`;
  writeFileAtomic(join(stateDir, name), JSON.stringify(bindings), { fsync: true });
  return name;
}
let bindingsSeq = 0;

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

/** Bindings files (and their temp files) that `keep` is not: superseded, or written by a sync that did not finish. */
function removeUnusedBindingsFiles(stateDir: string, keep: string | undefined): void {
  if (!existsSync(stateDir)) return;
  for (const f of readdirSync(stateDir)) {
    if (f === keep) continue;
    if (BINDINGS_FILE.test(f) || (f.startsWith('.bindings-') && f.endsWith('.tmp')))
      rmSync(join(stateDir, f), { force: true });
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

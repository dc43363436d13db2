import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../util/atomic.js';

/**
 * The last answer to "may this node hold the virtual address?" (readyForAddress), in two files:
 *  - `stateDir/keepalived.track`: `0` (yes) or `1` (no), keepalived's `track_file` (weight 0: a
 *    non-zero value puts the instance in FAULT): keepalived reads it, nothing is spawned per check;
 *  - `stateDir/address-ready.json`: the same with its reason and how long it holds, so
 *    `gitfailover ready --quiet` (the fallback track_script) answers without loading the tool.
 * The running daemon refreshes both every tick once keepalived is set up (either file exists:
 * the template's `init_file` creates the track file); a hook that switches the role rewrites them.
 */
export interface AddressVerdict {
  ready: boolean;
  reason: string;
  time: string;
  validUntil: string;
}

export function addressVerdictPath(stateDir: string): string {
  return join(stateDir, 'address-ready.json');
}

export function trackFilePath(stateDir: string): string {
  return join(stateDir, 'keepalived.track');
}

/** keepalived is set up to ask this node (its track file or an earlier verdict exists). */
export function addressAsked(stateDir: string): boolean {
  return existsSync(trackFilePath(stateDir)) || existsSync(addressVerdictPath(stateDir));
}

export function saveAddressVerdict(stateDir: string, r: { ready: boolean; reason: string }, validMs: number): void {
  const now = Date.now();
  const v: AddressVerdict = {
    ready: r.ready,
    reason: r.reason,
    time: new Date(now).toISOString(),
    validUntil: new Date(now + validMs).toISOString(),
  };
  writeJsonAtomic(addressVerdictPath(stateDir), v);
  const track = r.ready ? '0\n' : '1\n';
  let was: string | undefined;
  try {
    was = readFileSync(trackFilePath(stateDir), 'utf8');
  } catch {
    /* not there yet */
  }
  if (was !== track) writeFileAtomic(trackFilePath(stateDir), track, { fsync: true });
}

export function loadAddressVerdict(stateDir: string): AddressVerdict | undefined {
  const p = addressVerdictPath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as Partial<AddressVerdict>;
    if (typeof v.ready !== 'boolean' || typeof v.validUntil !== 'string') return undefined;
    return { ready: v.ready, reason: String(v.reason ?? ''), time: String(v.time ?? ''), validUntil: v.validUntil };
  } catch {
    return undefined;
  }
}

/** The verdict while it holds; undefined when there is none or it expired (then a full run answers). */
export function freshAddressVerdict(stateDir: string, now = Date.now()): boolean | undefined {
  const v = loadAddressVerdict(stateDir);
  return v && Date.parse(v.validUntil) > now ? v.ready : undefined;
}

export function dropAddressVerdict(stateDir: string): void {
  rmSync(addressVerdictPath(stateDir), { force: true });
}

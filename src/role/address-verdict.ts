import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';

/**
 * `stateDir/address-ready.json`: the last answer to "may this node hold the virtual address?"
 * (readyForAddress), with how long it holds. The running daemon refreshes it every tick once
 * keepalived's track_script has asked (the file exists), so `gitfailover ready --quiet` can answer
 * without loading the tool: keepalived runs it every few seconds, and a full run costs a node
 * process's start-up plus git. A hook that switches the role drops it.
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

export function saveAddressVerdict(stateDir: string, r: { ready: boolean; reason: string }, validMs: number): void {
  const now = Date.now();
  const v: AddressVerdict = {
    ready: r.ready,
    reason: r.reason,
    time: new Date(now).toISOString(),
    validUntil: new Date(now + validMs).toISOString(),
  };
  writeJsonAtomic(addressVerdictPath(stateDir), v);
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

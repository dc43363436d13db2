import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';

/**
 * The last heartbeat (or notify) a standby got from its primary: `stateDir/heartbeat.json`, kept
 * apart from state.json so the daemon's HTTP handler never races a sync's state write.
 * `ready` reads it: it shows the standby heard from the primary, and what head it announced.
 */
export interface Heartbeat {
  time: string;
  /** The primary that sent it (the notify body's `node`). */
  node?: string;
  /** The remote head it announced. */
  commit?: string;
}

export function heartbeatPath(stateDir: string): string {
  return join(stateDir, 'heartbeat.json');
}

/** `body`: the raw notify body (signature already verified); GitHub's payload or an empty body still counts as contact. */
export function saveHeartbeat(stateDir: string, body: Buffer): void {
  let b: { node?: unknown; commit?: unknown } = {};
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (v && typeof v === 'object') b = v as typeof b;
  } catch {
    /* not JSON */
  }
  const hb: Heartbeat = { time: new Date().toISOString() };
  if (typeof b.node === 'string') hb.node = b.node;
  if (typeof b.commit === 'string' && /^[0-9a-f]{40}$/.test(b.commit)) hb.commit = b.commit;
  try {
    writeJsonAtomic(heartbeatPath(stateDir), hb);
  } catch {
    /* a full disk must not fail the notify: ready then says the heartbeat is old */
  }
}

export function loadHeartbeat(stateDir: string): Heartbeat | undefined {
  const p = heartbeatPath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as Heartbeat;
  } catch {
    return undefined;
  }
}

import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { formatStatus, statusOf, type NodeStatus } from '../observe/status.js';

/**
 * `gitfailover status --watch`: on a terminal, the status redrawn in place every interval (like
 * watch(1)); otherwise (a pipe, a log file) one line per change, or one JSON object per line with
 * --json, so that a log holds the changes and not one copy of the status per interval.
 */

const CLEAR = '\x1b[H\x1b[2J';

/** One line that changes whenever something a person watches for changes. */
export function statusLine(s: NodeStatus): string {
  const short = (c: string | null | undefined) => (c ? c.slice(0, 12) : '-');
  const parts = [
    `${s.node} (${s.role})`,
    `${s.role === 'standby' ? 'applied' : 'local'} ${short(s.appliedCommit)}`,
    `head ${short(s.targetCommit)}`,
    `behind ${s.behind ?? 'history-differs'}`,
  ];
  if (s.remoteError) parts.push(`remote UNREACHABLE: ${s.remoteError}`);
  if (s.role === 'primary' || s.unpushed > 0) parts.push(`unpushed ${s.unpushed}`);
  if (s.role === 'standby') {
    parts.push(`automatic ${s.automatic ? 'on' : 'off'}`);
    const l = s.lastSync;
    parts.push(`last sync ${l ? `${l.success ? 'ok' : 'FAILED'} ${l.mode} -> ${short(l.toCommit)}` : '-'}`);
    parts.push(`drift ${s.drift.changed.length + s.drift.missing.length + s.drift.extra.length}`);
    if (s.quarantined) parts.push(`quarantined ${short(s.quarantined.commit)}`);
  }
  return parts.join(', ');
}

export interface WatchOptions {
  intervalMs: number;
  fetch: boolean;
  json: boolean;
  tty: boolean;
  write: (text: string) => void;
  /** Resolves when the watch should end (SIGINT, SIGTERM). */
  stopped: Promise<void>;
  now?: () => Date;
}

export async function watchStatus(cfg: NodeConfig, o: WatchOptions): Promise<void> {
  const now = o.now ?? (() => new Date());
  let last: string | undefined;
  let stop = false;
  void o.stopped.then(() => (stop = true));
  while (!stop) {
    let text: string;
    try {
      const s = await statusOf(cfg, { fetch: o.fetch });
      if (o.tty) text = o.json ? `${JSON.stringify(s, null, 2)}\n` : formatStatus(s);
      else text = o.json ? `${JSON.stringify(s)}\n` : `${statusLine(s)}\n`;
    } catch (err) {
      text = `status failed: ${errorMessage(err)}\n`;
    }
    if (o.tty) {
      o.write(
        `${CLEAR}every ${o.intervalMs / 1000}s: gitfailover status${o.fetch ? '' : ' --no-fetch'}    ${now().toISOString()}    (Ctrl-C to stop)\n\n${text}`,
      );
    } else if (text !== last) {
      o.write(o.json ? text : `${now().toISOString()} ${text}`);
    }
    last = text;
    await Promise.race([o.stopped, new Promise((r) => setTimeout(r, o.intervalMs))]);
  }
}

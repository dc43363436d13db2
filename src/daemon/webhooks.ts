import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { dirname } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';
import { REPLAY_WINDOW_MS, verify, type NotifyVia } from '../util/http-sign.js';

export type GateAnswer =
  | {
      ok: true;
      via: NotifyVia;
      delivery?: string /** a signed heartbeat from the primary (only that refreshes heartbeat.json) */;
      heartbeat: boolean;
    }
  | { ok: false; status: 401 | 409; reason: string };

/** Forge delivery ids are remembered this long (forges send no timestamp to bound a replay by). */
const FORGE_MEMORY_MS = 24 * 3600_000;
const MAX_REMEMBERED = 10_000;
/** stateDir/notify-seen.json: the ids the notify endpoint accepted, until each one's window ends. */
export const NOTIFY_SEEN_FILE = 'notify-seen.json';
const WARN_EVERY_MS = 60_000;

/**
 * The notify endpoint's gate, the same on the primary and the standby: a request must carry a
 * valid signature (ours, GitHub, Gitea/Forgejo or GitLab: util/http-sign.ts), must not have been
 * seen before (ours by its signature, a forge's by its delivery id, which is then required), and
 * must be inside the time window where a timestamp is sent (ours; GitHub's `repository.pushed_at`).
 * Refusals are logged at most once a minute, with a count, so a scanner cannot flood the log.
 * With `file` (stateDir/notify-seen.json) the remembered ids outlive a restart, so a restart does
 * not reopen a replay's window; the file is bounded like the map and written atomically on each
 * accepted request (a push or a heartbeat: a few a minute).
 */
export class NotifyGate {
  private readonly seen = new Map<string, number>();
  private lastWarn = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly secret: string | undefined,
    private readonly warn: (line: string) => void,
    private readonly now: () => number = Date.now,
    private readonly file?: string,
  ) {
    if (file) this.load(file);
  }

  check(headers: IncomingHttpHeaders, body: Buffer, from = 'unknown'): GateAnswer {
    if (!this.secret)
      return this.refuse(401, 'notify.secret is not set on this node: unsigned requests never trigger anything', from);
    const now = this.now();
    const v = verify(this.secret, headers, body, now);
    if (!v.ok) return this.refuse(401, v.reason, from);
    let key: string;
    if (v.via === 'gitfailover') {
      key = `gitfailover:${String(headers['x-gitfailover-signature'])}`;
    } else {
      if (!v.delivery)
        return this.refuse(
          401,
          `${v.via} webhook without a delivery id header: refused, as it could not be told from a replay`,
          from,
        );
      key = `${v.via}:${v.delivery}`;
    }
    const payload = parse(body);
    if (v.via === 'github') {
      const pushedAt = (payload?.repository as { pushed_at?: unknown } | undefined)?.pushed_at;
      if (typeof pushedAt === 'number' && Math.abs(now - pushedAt * 1000) > REPLAY_WINDOW_MS) {
        return this.refuse(401, 'GitHub push outside the replay window (repository.pushed_at)', from);
      }
    }
    this.forgetExpired(now);
    if (this.seen.has(key)) return this.refuse(409, 'replayed delivery (already received)', from);
    this.seen.set(key, now + (v.via === 'gitfailover' ? 2 * REPLAY_WINDOW_MS : FORGE_MEMORY_MS));
    if (this.seen.size > MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    this.save();
    return {
      ok: true,
      via: v.via,
      delivery: v.delivery,
      heartbeat: v.via === 'gitfailover' && payload?.heartbeat === true,
    };
  }

  private refuse(status: 401 | 409, reason: string, from: string): GateAnswer {
    const now = this.now();
    if (now - this.lastWarn >= WARN_EVERY_MS) {
      const more = this.suppressed > 0 ? ` (${this.suppressed} more refused in the last minute)` : '';
      this.warn(`refused notify from ${from}: ${reason}${more}`);
      this.lastWarn = now;
      this.suppressed = 0;
    } else {
      this.suppressed++;
    }
    return { ok: false, status, reason };
  }

  private load(file: string): void {
    if (!existsSync(file)) return;
    try {
      const list = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      if (!Array.isArray(list)) return;
      const now = this.now();
      for (const e of list.slice(-MAX_REMEMBERED))
        if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number' && e[1] > now)
          this.seen.set(e[0], e[1]);
    } catch (err) {
      this.warn(
        `${file} could not be read (${(err as Error).message}): replays accepted before this start are not recognised`,
      );
    }
  }

  private save(): void {
    if (!this.file) return;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeJsonAtomic(this.file, [...this.seen]);
    } catch (err) {
      this.warn(
        `${this.file} could not be written (${(err as Error).message}): a restart would forget the ids received`,
      );
    }
  }

  private forgetExpired(now: number): void {
    for (const [k, until] of this.seen) {
      if (until > now) break; // stops at the first live entry; MAX_REMEMBERED bounds the map either way
      this.seen.delete(k);
    }
  }
}

function parse(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

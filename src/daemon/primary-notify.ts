import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import { signedHeaders } from '../util/http-sign.js';

/** What a primary tells its standbys: "there is a new head, fetch it" (nothing in it is trusted as config). */
export interface NotifyBody {
  node: string;
  commit: string;
  heartbeat?: true;
}

export interface NotifyOutcome {
  url: string;
  ok: boolean;
  detail: string;
}

/** Short on purpose: a standby that is down must not delay the next record nor the other standbys. */
export const NOTIFY_TIMEOUT_MS = 3_000;

/**
 * POST the signed body to every URL of `notify.standbys`, each on its own (one slow or dead
 * standby delays nobody); never throws. A standby that missed a notify still catches up on its
 * own fetch interval, so a failure here is logged, not retried.
 */
export async function notifyStandbys(
  cfg: NodeConfig,
  body: NotifyBody,
  timeoutMs = NOTIFY_TIMEOUT_MS,
): Promise<NotifyOutcome[]> {
  const secret = cfg.notify.secret;
  if (cfg.notify.standbys.length === 0 || !secret) return [];
  const text = JSON.stringify(body);
  return Promise.all(
    cfg.notify.standbys.map(async (url): Promise<NotifyOutcome> => {
      const shown = redact(url);
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: signedHeaders(secret, text),
          body: text,
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined); // free the connection
        return res.ok
          ? { url: shown, ok: true, detail: `HTTP ${res.status}` }
          : { url: shown, ok: false, detail: `HTTP ${res.status}` };
      } catch (err) {
        const e = err as Error;
        const detail =
          e.name === 'TimeoutError'
            ? `no answer within ${timeoutMs}ms`
            : errorMessage((e.cause as Error | undefined) ?? e);
        return { url: shown, ok: false, detail };
      }
    }),
  );
}

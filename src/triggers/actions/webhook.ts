import { randomUUID } from 'node:crypto';
import { signatureHeaders } from '../../util/http-sign.js';
import { GitfailoverError, errorMessage } from '../../errors.js';
import { redact } from '../../util/redact.js';
import type { WebhookAction } from '../schema.js';
import type { ActionAttempt, ActionResult } from './types.js';

/**
 * POST the event as JSON; a non-2xx answer is a failure. With a secret, signed like a notify
 * (util/http-sign.ts), afresh on each attempt so a retry carries a current timestamp.
 */
export async function postWebhook(action: WebhookAction, attempt: ActionAttempt): ActionResult {
  const body = JSON.stringify(attempt.event);
  const headers: Record<string, string> = {
    ...action.headers,
    'content-type': 'application/json',
    'user-agent': 'gitfailover',
    'x-gitfailover-event': attempt.event.event,
    'x-gitfailover-delivery': randomUUID(),
    ...(action.secret !== undefined ? signatureHeaders(action.secret, body) : {}),
  };
  // fetch refuses URLs with credentials: send them as Basic auth instead
  const target = new URL(action.url);
  if (target.username || target.password) {
    const userinfo = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    headers.authorization = `Basic ${Buffer.from(userinfo).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  const url = redact(action.url);
  let res: Response;
  try {
    res = await fetch(target, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual', // a redirect would replay a signed body to a host we were not told about
      signal: AbortSignal.any([attempt.signal, AbortSignal.timeout(attempt.timeoutMs)]),
    });
  } catch (err) {
    const reason =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${attempt.timeoutMs}ms`
        : attempt.signal.aborted
          ? 'cancelled at shutdown'
          : causeText(err);
    throw new GitfailoverError('E_WEBHOOK', `webhook ${url} failed: ${reason}`, { kind: 'waiting', cause: err });
  }
  const text = await res.text().catch(() => '');
  if (res.status < 200 || res.status > 299) {
    const snippet = text.trim().slice(0, 200);
    throw new GitfailoverError(
      'E_WEBHOOK',
      `webhook ${url} answered HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`,
      {
        kind: 'waiting',
        data: { status: res.status },
      },
    );
  }
  return `POST ${url}: HTTP ${res.status}`;
}

/** fetch's "fetch failed" hides the useful part (ECONNREFUSED ...) in its cause. */
function causeText(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause;
  return cause instanceof Error ? `${errorMessage(err)} (${cause.message})` : errorMessage(err);
}

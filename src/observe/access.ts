import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * Who may read the status page, /metrics and /status (the notify endpoint has its own HMAC):
 * - from loopback, anyone (the listener is loopback by default: whoever is on the host can read
 *   state.json anyway);
 * - from anywhere else, only with the node's notify secret: `Authorization: Bearer <secret>`
 *   (Prometheus: `authorization: { credentials_file: ... }`), or the session cookie a browser
 *   gets from POST /login with the secret. The cookie holds an HMAC of the secret, never the
 *   secret itself, so rotating the secret logs every browser out.
 * Without a notify.secret, nothing but loopback gets in.
 */
export const SESSION_COOKIE = 'gitfailover_session';

export type Access = { ok: true } | { ok: false; status: 401 | 403; reason: string };

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

export function sessionValue(secret: string): string {
  return createHmac('sha256', secret).update('gitfailover status page v1').digest('hex');
}

export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

export function checkAccess(req: IncomingMessage, secret: string | undefined): Access {
  if (isLoopback(req.socket.remoteAddress)) return { ok: true };
  if (!secret)
    return {
      ok: false,
      status: 403,
      reason:
        'only loopback may read this: set notify.secret in the node file to allow other hosts (with the secret as a bearer token)',
    };
  const auth = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  if (auth && sameSecret(auth[1]!.trim(), secret)) return { ok: true };
  const cookie = cookieOf(req, SESSION_COOKIE);
  if (cookie && sameSecret(cookie, sessionValue(secret))) return { ok: true };
  return {
    ok: false,
    status: 401,
    reason:
      'the notify secret is required from another host: send "Authorization: Bearer <notify.secret>", or log in on the status page',
  };
}

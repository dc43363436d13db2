import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The notify request a primary sends to its standbys. It only asks for a fetch: nothing in it is
 * trusted as configuration. Signed with HMAC-SHA256 over `<timestamp>.<body>`, so a captured
 * request cannot be replayed once its timestamp leaves the window.
 */
export const SIGNATURE_HEADER = 'x-gitfailover-signature';
export const TIMESTAMP_HEADER = 'x-gitfailover-timestamp';
export const GITHUB_SIGNATURE_HEADER = 'x-hub-signature-256';
export const REPLAY_WINDOW_MS = 5 * 60_000;
export const MAX_BODY_BYTES = 64 * 1024;

export function sign(secret: string, timestamp: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

export function signedHeaders(secret: string, body: string, now = Date.now()): Record<string, string> {
  const ts = String(Math.floor(now / 1000));
  return { 'content-type': 'application/json', [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign(secret, ts, body) };
}

export type VerifyResult = { ok: true; via: 'gitfailover' | 'github' } | { ok: false; reason: string };

/** Checks a request's signature: ours (with timestamp window) or GitHub's push webhook (`X-Hub-Signature-256`). */
export function verify(secret: string, headers: Record<string, string | string[] | undefined>, body: Buffer, now = Date.now()): VerifyResult {
  const h = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const ours = h(SIGNATURE_HEADER);
  if (ours) {
    const ts = h(TIMESTAMP_HEADER);
    if (!ts || !/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'missing or bad timestamp' };
    if (Math.abs(now - Number(ts) * 1000) > REPLAY_WINDOW_MS) return { ok: false, reason: 'timestamp outside the replay window' };
    return equal(ours, sign(secret, ts, body)) ? { ok: true, via: 'gitfailover' } : { ok: false, reason: 'bad signature' };
  }
  const github = h(GITHUB_SIGNATURE_HEADER);
  if (github) {
    const expected = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
    return equal(github, expected) ? { ok: true, via: 'github' } : { ok: false, reason: 'bad signature' };
  }
  return { ok: false, reason: 'unsigned request' };
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

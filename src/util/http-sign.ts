import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Every HMAC gitfailover signs or checks, in one place. What gitfailover sends (the notify a
 * primary posts to its standbys, trigger webhooks) is signed one way, Stripe's signed-payload
 * scheme: SIGNATURE_HEADER = `sha256=` + hex HMAC-SHA256 of `<TIMESTAMP_HEADER>.<body>`, so a
 * captured request dies with its window. What forges send to notify.listen is checked their way
 * (GitHub, Gitea/Forgejo, GitLab). A notify only asks for a fetch: nothing in it is trusted as
 * configuration.
 */
export const SIGNATURE_HEADER = 'x-gitfailover-signature';
export const TIMESTAMP_HEADER = 'x-gitfailover-timestamp';
export const GITHUB_SIGNATURE_HEADER = 'x-hub-signature-256';
export const GITEA_SIGNATURE_HEADERS = ['x-gitea-signature', 'x-forgejo-signature'];
export const GITLAB_TOKEN_HEADER = 'x-gitlab-token';
/** Per-delivery ids each forge sends, first found wins. */
export const DELIVERY_HEADERS: Record<'github' | 'gitea' | 'gitlab', string[]> = {
  github: ['x-github-delivery'],
  gitea: ['x-gitea-delivery', 'x-forgejo-delivery'],
  gitlab: ['x-gitlab-event-uuid', 'idempotency-key'],
};
export const REPLAY_WINDOW_MS = 5 * 60_000;
export const MAX_BODY_BYTES = 64 * 1024;

export function sign(secret: string, timestamp: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex')}`;
}

/** The two headers that sign `body` now: TIMESTAMP_HEADER (Unix seconds) and SIGNATURE_HEADER. */
export function signatureHeaders(secret: string, body: string, now = Date.now()): Record<string, string> {
  const ts = String(Math.floor(now / 1000));
  return { [TIMESTAMP_HEADER]: ts, [SIGNATURE_HEADER]: sign(secret, ts, body) };
}

export function signedHeaders(secret: string, body: string, now = Date.now()): Record<string, string> {
  return { 'content-type': 'application/json', ...signatureHeaders(secret, body, now) };
}

/** GitHub's `X-Hub-Signature-256`: `sha256=<hex>` of the exact body bytes, no timestamp. */
function githubSignature(body: Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export type NotifyVia = 'gitfailover' | 'github' | 'gitea' | 'gitlab';
export type VerifyResult = { ok: true; via: NotifyVia; delivery?: string } | { ok: false; reason: string };

/**
 * Checks a request's signature, without memory (webhooks.ts adds the replay checks): ours (with
 * its timestamp window), GitHub's (`X-Hub-Signature-256`), Gitea/Forgejo's (`X-Gitea-Signature`,
 * hex HMAC of the body) or GitLab's (`X-Gitlab-Token`, the secret itself).
 */
export function verify(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  now = Date.now(),
): VerifyResult {
  const h = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const ours = h(SIGNATURE_HEADER);
  if (ours) {
    const ts = h(TIMESTAMP_HEADER);
    if (!ts || !/^\d{1,12}$/.test(ts)) return { ok: false, reason: 'missing or bad timestamp' };
    if (Math.abs(now - Number(ts) * 1000) > REPLAY_WINDOW_MS)
      return { ok: false, reason: 'timestamp outside the replay window' };
    return equal(ours, sign(secret, ts, body))
      ? { ok: true, via: 'gitfailover' }
      : { ok: false, reason: 'bad signature' };
  }
  const delivery = (via: 'github' | 'gitea' | 'gitlab') =>
    DELIVERY_HEADERS[via].map(h).find((v) => v !== undefined && v !== '');
  const github = h(GITHUB_SIGNATURE_HEADER);
  if (github) {
    return equal(github, githubSignature(body, secret))
      ? { ok: true, via: 'github', delivery: delivery('github') }
      : { ok: false, reason: 'bad signature' };
  }
  const gitea = GITEA_SIGNATURE_HEADERS.map(h).find((v) => v !== undefined);
  if (gitea) {
    const expected = createHmac('sha256', secret).update(body).digest('hex');
    return equal(gitea.toLowerCase(), expected)
      ? { ok: true, via: 'gitea', delivery: delivery('gitea') }
      : { ok: false, reason: 'bad signature' };
  }
  const gitlab = h(GITLAB_TOKEN_HEADER);
  if (gitlab) {
    // GitLab sends the secret itself: compared as digests, so the lengths never leak.
    const digest = (v: string) => createHmac('sha256', 'gitlab-token').update(v).digest('hex');
    return equal(digest(gitlab), digest(secret))
      ? { ok: true, via: 'gitlab', delivery: delivery('gitlab') }
      : { ok: false, reason: 'bad token' };
  }
  return { ok: false, reason: 'unsigned request' };
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

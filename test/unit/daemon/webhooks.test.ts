import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW_MS, signedHeaders } from '../../../src/util/http-sign.js';
import { NotifyGate } from '../../../src/daemon/webhooks.js';

const SECRET = 'gate-secret-for-unit-tests';
const hex = (body: string, secret = SECRET) => createHmac('sha256', secret).update(body).digest('hex');

function gate(now = () => 1_700_000_000_000) {
  const warnings: string[] = [];
  return { g: new NotifyGate(SECRET, (l) => warnings.push(l), now), warnings };
}

describe('notify gate: forge webhooks and replay protection', () => {
  const body = '{"ref":"refs/heads/main"}';
  const buf = Buffer.from(body);

  it('GitHub: accepted once per delivery id, 409 for the same id, 401 without one or with a bad signature', () => {
    const { g } = gate();
    const h = { 'x-hub-signature-256': `sha256=${hex(body)}`, 'x-github-delivery': 'd-1' };
    expect(g.check(h, buf)).toMatchObject({ ok: true, via: 'github', heartbeat: false });
    expect(g.check(h, buf)).toMatchObject({ ok: false, status: 409 });
    expect(g.check({ ...h, 'x-github-delivery': undefined }, buf)).toMatchObject({ ok: false, status: 401 });
    expect(
      g.check({ ...h, 'x-github-delivery': 'd-2', 'x-hub-signature-256': `sha256=${hex(body, 'x')}` }, buf),
    ).toMatchObject({ ok: false, status: 401 });
  });

  it('GitHub: a push whose repository.pushed_at is outside the window is refused', () => {
    const now = 1_700_000_000_000;
    const { g } = gate(() => now);
    const old = JSON.stringify({ repository: { pushed_at: Math.floor((now - REPLAY_WINDOW_MS - 60_000) / 1000) } });
    expect(
      g.check({ 'x-hub-signature-256': `sha256=${hex(old)}`, 'x-github-delivery': 'd-old' }, Buffer.from(old)),
    ).toMatchObject({ ok: false, status: 401 });
  });

  it('Gitea/Forgejo: bare hex HMAC, de-duplicated by X-Gitea-Delivery', () => {
    const { g } = gate();
    const h = { 'x-gitea-signature': hex(body), 'x-gitea-delivery': 'g-1' };
    expect(g.check(h, buf)).toMatchObject({ ok: true, via: 'gitea' });
    expect(g.check(h, buf)).toMatchObject({ ok: false, status: 409 });
    expect(g.check({ 'x-gitea-signature': hex(body, 'x'), 'x-gitea-delivery': 'g-2' }, buf)).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(g.check({ 'x-forgejo-signature': hex(body), 'x-forgejo-delivery': 'f-1' }, buf)).toMatchObject({
      ok: true,
      via: 'gitea',
    });
  });

  it('GitLab: the token, de-duplicated by X-Gitlab-Event-UUID or Idempotency-Key', () => {
    const { g } = gate();
    expect(g.check({ 'x-gitlab-token': SECRET, 'x-gitlab-event-uuid': 'l-1' }, buf)).toMatchObject({
      ok: true,
      via: 'gitlab',
    });
    expect(g.check({ 'x-gitlab-token': SECRET, 'x-gitlab-event-uuid': 'l-1' }, buf)).toMatchObject({
      ok: false,
      status: 409,
    });
    expect(g.check({ 'x-gitlab-token': SECRET, 'idempotency-key': 'l-2' }, buf)).toMatchObject({
      ok: true,
      via: 'gitlab',
    });
    expect(g.check({ 'x-gitlab-token': 'wrong', 'x-gitlab-event-uuid': 'l-3' }, buf)).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('ours: a replay inside the window is refused; only a signed heartbeat is a heartbeat', () => {
    let now = Date.now();
    const { g } = gate(() => now);
    const beat = JSON.stringify({ node: 'prod-1', commit: 'a'.repeat(40), heartbeat: true });
    const h = signedHeaders(SECRET, beat, now);
    expect(g.check(h, Buffer.from(beat))).toMatchObject({ ok: true, via: 'gitfailover', heartbeat: true });
    expect(g.check(h, Buffer.from(beat))).toMatchObject({ ok: false, status: 409 });
    now += REPLAY_WINDOW_MS + 1_000;
    expect(g.check(h, Buffer.from(beat))).toMatchObject({ ok: false, status: 401 }); // out of the window
    const push = JSON.stringify({ node: 'prod-1', commit: 'b'.repeat(40) });
    expect(g.check(signedHeaders(SECRET, push, now), Buffer.from(push))).toMatchObject({ ok: true, heartbeat: false });
    // A forge body that says heartbeat is still no heartbeat: only our signed notify is.
    const fake = JSON.stringify({ heartbeat: true });
    expect(
      g.check({ 'x-hub-signature-256': `sha256=${hex(fake)}`, 'x-github-delivery': 'h-1' }, Buffer.from(fake)),
    ).toMatchObject({ ok: true, heartbeat: false });
  });

  it('logs refusals at most once a minute, with the count of those it did not log', () => {
    let now = 0;
    const { g, warnings } = gate(() => now);
    for (let i = 0; i < 50; i++) g.check({}, buf, '127.0.0.9');
    expect(warnings).toEqual(['refused notify from 127.0.0.9: unsigned request']);
    now += 61_000;
    g.check({}, buf, '127.0.0.9');
    expect(warnings[1]).toBe('refused notify from 127.0.0.9: unsigned request (49 more refused in the last minute)');
  });

  it('refuses everything when notify.secret is not set', () => {
    const g = new NotifyGate(undefined, () => {});
    expect(g.check({ 'x-gitlab-token': '', 'x-gitlab-event-uuid': 'x' }, buf)).toMatchObject({
      ok: false,
      status: 401,
    });
  });
});

import { createHmac } from 'node:crypto';
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseNodeFile } from '../../../src/config/load.js';
import { startHttp } from '../../../src/util/http-server.js';
import { MAX_BODY_BYTES, REPLAY_WINDOW_MS, sign, signedHeaders, verify } from '../../../src/util/http-sign.js';

const SECRET = 'notify-secret-for-unit-tests';
const body = Buffer.from('{"node":"prod-1"}');

describe('notify signature', () => {
  it('accepts a fresh request signed over timestamp and body', () => {
    expect(verify(SECRET, signedHeaders(SECRET, body.toString()), body)).toEqual({ ok: true, via: 'gitfailover' });
  });

  it('refuses a tampered body, a wrong secret, a missing or malformed timestamp', () => {
    const h = signedHeaders(SECRET, body.toString());
    expect(verify(SECRET, h, Buffer.from('{"node":"evil"}'))).toMatchObject({ ok: false, reason: 'bad signature' });
    expect(verify('another-secret', h, body)).toMatchObject({ ok: false, reason: 'bad signature' });
    expect(verify(SECRET, { ...h, 'x-gitfailover-timestamp': undefined }, body)).toMatchObject({
      ok: false,
      reason: 'missing or bad timestamp',
    });
    expect(verify(SECRET, { ...h, 'x-gitfailover-timestamp': '12abc' }, body)).toMatchObject({
      ok: false,
      reason: 'missing or bad timestamp',
    });
  });

  it('refuses a replay once the timestamp is outside the window, in the past or the future', () => {
    const now = Date.now();
    const past = signedHeaders(SECRET, body.toString(), now - REPLAY_WINDOW_MS - 2_000);
    const future = signedHeaders(SECRET, body.toString(), now + REPLAY_WINDOW_MS + 2_000);
    expect(verify(SECRET, past, body, now)).toMatchObject({ ok: false, reason: 'timestamp outside the replay window' });
    expect(verify(SECRET, future, body, now)).toMatchObject({
      ok: false,
      reason: 'timestamp outside the replay window',
    });
    // The timestamp is inside the signature: moving it forward to re-enter the window breaks the signature.
    const moved = { ...past, 'x-gitfailover-timestamp': String(Math.floor(now / 1000)) };
    expect(verify(SECRET, moved, body, now)).toMatchObject({ ok: false, reason: 'bad signature' });
  });

  it('compares in constant time and never throws on a signature of another length', () => {
    const h = signedHeaders(SECRET, body.toString());
    expect(verify(SECRET, { ...h, 'x-gitfailover-signature': 'sha256=00' }, body)).toMatchObject({ ok: false });
    expect(
      verify(
        SECRET,
        { ...h, 'x-gitfailover-signature': `${sign(SECRET, h['x-gitfailover-timestamp']!, body)}ff` },
        body,
      ),
    ).toMatchObject({ ok: false });
  });

  it("accepts GitHub's push webhook signature and refuses an unsigned request", () => {
    const gh = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
    expect(verify(SECRET, { 'x-hub-signature-256': gh }, body)).toEqual({ ok: true, via: 'github' });
    expect(verify(SECRET, {}, body)).toMatchObject({ ok: false, reason: 'unsigned request' });
  });
});

describe('notify listener', () => {
  it('binds to loopback unless notify.listen says otherwise', () => {
    const cfg = parseNodeFile(
      '/etc/gitfailover.yaml',
      'node: n\nrole: standby\nrepo: { remote: /r.git, stateDir: /s }\nlive: { dir: /l }\n',
      {},
    );
    expect(cfg.notify.listen).toBe('127.0.0.1:7420');
  });

  it(`refuses a body over ${MAX_BODY_BYTES} bytes with 413 before the handler runs`, async () => {
    let handled = 0;
    const { server, address } = await startHttp('127.0.0.1:0', {
      'POST /notify': (_req, _body, res) => {
        handled++;
        res.end('ok');
      },
    });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(`http://${address}/notify`, { method: 'POST' }, (res) => resolve(res.statusCode ?? 0));
        req.on('error', reject);
        req.end(Buffer.alloc(MAX_BODY_BYTES + 1024, 'a'));
      });
      expect(status).toBe(413);
      expect(handled).toBe(0);
    } finally {
      server.close();
    }
  });
});

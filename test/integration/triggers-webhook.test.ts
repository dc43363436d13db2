import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TriggerDispatcher, type TriggerLogger } from '../../src/triggers/dispatcher.js';
import { sampleEvent, type SyncEvent } from '../../src/triggers/events.js';
import { parseTriggers } from '../../src/triggers/schema.js';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP receiver on 127.0.0.1; `status` lets a test make it answer with an error. */
class Receiver {
  received: Received[] = [];
  status = 200;
  delayMs = 0;
  server?: Server;

  async listen(port = 0): Promise<number> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        setTimeout(() => {
          res.statusCode = this.status;
          res.end(this.status === 200 ? 'ok' : 'receiver broken');
        }, this.delayMs);
      });
    });
    await new Promise<void>((r) => this.server!.listen(port, '127.0.0.1', r));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((r) => {
      if (!this.server) return r();
      this.server.closeAllConnections();
      this.server.close(() => r());
    });
  }
}

/** Keeps log lines, so tests can see retries happen. */
function memoryLogger(): TriggerLogger & { lines: string[] } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(m), warn: (m) => lines.push(m), error: (m) => lines.push(m) };
}

const SECRET = 'shared-webhook-secret';
const event: SyncEvent = {
  ...(sampleEvent('sync', 'failover-1') as SyncEvent),
  success: false,
  error: 'services.yaml: duplicate port 22',
};

const receivers: Receiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

function receiver(): Receiver {
  const r = new Receiver();
  receivers.push(r);
  return r;
}

describe('webhook action against a real HTTP server', () => {
  it('POSTs the event JSON with a valid HMAC signature', async () => {
    const r = receiver();
    const port = await r.listen();
    const triggers = parseTriggers([
      {
        on: 'sync',
        webhook: { url: `http://127.0.0.1:${port}/hooks/gitfailover`, secret: SECRET, headers: { 'X-Team': 'ops' } },
      },
    ]);
    const d = new TriggerDispatcher(triggers, { logger: memoryLogger() });
    d.fire(event);
    expect(await d.drain(10_000)).toBe(true);

    expect(r.received).toHaveLength(1);
    const { headers, body } = r.received[0]!;
    expect(JSON.parse(body)).toEqual(event);
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-gitfailover-event']).toBe('sync');
    expect(headers['x-team']).toBe('ops');
    // Verified as a receiver would (README's example), not with our own verify(): HMAC-SHA256 of
    // `<timestamp>.<raw body>`, constant-time compare, timestamp within 5 minutes.
    const receiverAccepts = (h: typeof headers, raw: string, secret = SECRET) => {
      const ts = String(h['x-gitfailover-timestamp']);
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${ts}.${raw}`).digest('hex')}`);
      const got = Buffer.from(String(h['x-gitfailover-signature']));
      const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
      return fresh && got.length === expected.length && timingSafeEqual(got, expected);
    };
    expect(headers['x-gitfailover-timestamp']).toMatch(/^\d{10}$/);
    expect(receiverAccepts(headers, body)).toBe(true);
    // the same check refuses a changed body, another secret, and a timestamp moved to re-enter the window
    expect(receiverAccepts(headers, `${body} `)).toBe(false);
    expect(receiverAccepts(headers, body, 'another-secret')).toBe(false);
    const moved = { ...headers, 'x-gitfailover-timestamp': String(Number(headers['x-gitfailover-timestamp']) + 1) };
    expect(receiverAccepts(moved, body)).toBe(false);
    // one header name, one scheme: no body-only signature rides along
    expect(headers['x-hub-signature-256']).toBeUndefined();
  });

  it('sends no signature without a secret', async () => {
    const r = receiver();
    const port = await r.listen();
    const d = new TriggerDispatcher(parseTriggers([{ on: 'sync', webhook: { url: `http://127.0.0.1:${port}/` } }]), {
      logger: memoryLogger(),
    });
    d.fire(event);
    await d.drain(10_000);
    expect(r.received[0]!.headers['x-gitfailover-signature']).toBeUndefined();
    expect(r.received[0]!.headers['x-gitfailover-timestamp']).toBeUndefined();
  });

  it('with the receiver down, fire() returns at once without throwing, and the action is retried until it is up', async () => {
    // find a free port, then leave it closed: connections are refused until the receiver starts
    const probe = receiver();
    const port = await probe.listen();
    await probe.close();

    const log = memoryLogger();
    const triggers = parseTriggers([
      {
        on: 'sync',
        webhook: { url: `http://127.0.0.1:${port}/`, secret: SECRET, timeout: '2s' },
        retries: 8,
        backoff: '100ms',
        backoffMax: '400ms',
      },
    ]);
    const d = new TriggerDispatcher(triggers, { logger: log });
    const started = Date.now();
    expect(() => d.fire(event)).not.toThrow();
    expect(Date.now() - started).toBeLessThan(1_000); // the caller (a sync) is not held up by the delivery

    // wait for at least one failed attempt, then bring the receiver up on the same port
    await waitFor(() => log.lines.some((l) => /attempt 1 of 9 failed: .*ECONNREFUSED/.test(l)));
    const r = receiver();
    await r.listen(port);

    expect(await d.drain(15_000)).toBe(true);
    expect(r.received).toHaveLength(1);
    const [delivery] = d.deliveries();
    expect(delivery).toMatchObject({ succeeded: 1, failed: 0 });
    expect(delivery!.actions[0]!.attempts).toBeGreaterThan(1);
    expect(delivery!.actions[0]!.ok).toBe(true);
  });

  it('a non-2xx answer is a failure, retried, then recorded with its reason for status', async () => {
    const r = receiver();
    r.status = 500;
    const port = await r.listen();
    const d = new TriggerDispatcher(
      parseTriggers([
        {
          name: 'page-ops',
          on: 'sync',
          webhook: { url: `http://user:pw@127.0.0.1:${port}/x` },
          retries: 2,
          backoff: '50ms',
        },
      ]),
      { logger: memoryLogger() },
    );
    d.fire(event);
    expect(await d.drain(10_000)).toBe(true);
    expect(r.received).toHaveLength(3);
    expect(r.received[0]!.headers.authorization).toBe(`Basic ${Buffer.from('user:pw').toString('base64')}`);
    const [delivery] = d.deliveries();
    expect(delivery).toMatchObject({ id: 'page-ops', matched: 1, succeeded: 0, failed: 1 });
    expect(delivery!.lastFailure!.reason).toMatch(
      /webhook: webhook http:\/\/\*\*\*@127.0.0.1:\d+\/x answered HTTP 500: receiver broken/,
    );
    expect(JSON.stringify(d.deliveries())).not.toContain('pw'); // credentials never reach status
  });

  it('a slow target gets the newest pending event only; older pending ones are dropped', async () => {
    const r = receiver();
    r.delayMs = 300;
    const port = await r.listen();
    const d = new TriggerDispatcher(parseTriggers([{ on: 'lag', webhook: { url: `http://127.0.0.1:${port}/` } }]), {
      logger: memoryLogger(),
    });
    for (const s of [60, 120, 180, 240]) d.fire(sampleEvent('lag', 'failover-1', { behindSeconds: s }));
    expect(await d.drain(10_000)).toBe(true);
    // the first was running; 120 and 180 were replaced by 240 while waiting
    expect(r.received.map((x) => JSON.parse(x.body).behindSeconds)).toEqual([60, 240]);
    expect(d.deliveries()[0]).toMatchObject({ matched: 4, succeeded: 2, dropped: 2 });
  });

  it('a timeout fails the attempt, and drain() with a short deadline cancels what is left', async () => {
    const r = receiver();
    r.delayMs = 5_000;
    const port = await r.listen();
    const d = new TriggerDispatcher(
      parseTriggers([
        { on: 'sync', webhook: { url: `http://127.0.0.1:${port}/`, timeout: '200ms' }, retries: 10, backoff: '1s' },
      ]),
      { logger: memoryLogger() },
    );
    d.fire(event);
    const started = Date.now();
    expect(await d.drain(700)).toBe(false);
    expect(Date.now() - started).toBeLessThan(3_000);
    const [delivery] = d.deliveries();
    expect(delivery!.failed).toBe(1);
    expect(delivery!.lastFailure!.reason).toMatch(/no answer within 200ms|cancelled/);
    expect(d.fire(event)).toEqual([]); // closed after a cancelled drain
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

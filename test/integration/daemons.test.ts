import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cli,
  initRemote,
  makePair,
  removeDir,
  startCli,
  writeDomain,
  writeUser,
  type Pair,
} from '../helpers/fixture.js';
import { signedHeaders } from '../../src/util/http-sign.js';

const SECRET = 'test-notify-secret-0123456789';
const children: ChildProcess[] = [];
const pairs: Pair[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const p of pairs.splice(0)) removeDir(p.dir);
});

async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<number> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - t0;
}

function appendYaml(file: string, value: Record<string, unknown>): void {
  writeFileSync(file, readFileSync(file, 'utf8') + stringify(value));
}

describe('daemons', () => {
  it('a change on the primary is applied on the standby at once through notify, not at the next interval', async () => {
    const p = makePair({
      standby: {
        sync: { automatic: true, interval: '1h' },
        notify: { listen: '127.0.0.1:0', secret: 'env:GF_SECRET' },
      },
    });
    pairs.push(p);
    await initRemote(p);
    const env = { GF_SECRET: SECRET };
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/, { env });
    children.push(standby.child);
    const address = /standby ready on (\S+):/.exec(standby.output())![1]!;
    appendYaml(p.primary, { notify: { standbys: [`http://${address}/notify`], secret: 'env:GF_SECRET' } });
    const primary = await startCli(['primary', '-c', p.primary], /ready: watching/, { env });
    children.push(primary.child);

    await waitFor('the first sync', () => existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')));
    writeUser(p.prodLive, 'acme', 'bob');
    await waitFor('bob on the standby', () => existsSync(join(p.failLive, 'domains/acme/users/bob.yaml')));
    expect(readFileSync(join(p.failLive, 'domains/acme/services.yaml'), 'utf8')).toContain('10.1.0.5');
    // the sync logs after it has recorded its state, so the line may follow the file by a moment
    await waitFor('the partial sync line', () => /partial sync .* \(notify via gitfailover\)/.test(standby.output()));

    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'], { env })).stdout);
    expect(status.behind).toBe(0);
  });

  it('refuses unsigned, badly signed and replayed notify requests with 401 and syncs nothing', async () => {
    const p = makePair({
      standby: {
        sync: { automatic: true, interval: '1h' },
        notify: { listen: '127.0.0.1:0', secret: 'env:GF_SECRET' },
      },
    });
    pairs.push(p);
    await initRemote(p);
    const env = { GF_SECRET: SECRET };
    const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/, { env });
    children.push(standby.child);
    const url = `http://${/standby ready on (\S+):/.exec(standby.output())![1]!}/notify`;
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);

    const body = JSON.stringify({ node: 'prod-1', commit: 'x' });
    const unsigned = await fetch(url, { method: 'POST', body });
    expect(unsigned.status).toBe(401);
    const wrong = await fetch(url, { method: 'POST', body, headers: signedHeaders('not-the-secret', body) });
    expect(wrong.status).toBe(401);
    const old = await fetch(url, {
      method: 'POST',
      body,
      headers: signedHeaders(SECRET, body, Date.now() - 3_600_000),
    });
    expect(old.status).toBe(401);
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(join(p.failLive, 'domains/acme'))).toBe(false);

    const good = await fetch(url, { method: 'POST', body, headers: signedHeaders(SECRET, body) });
    expect(good.status).toBe(202);
    await waitFor('the sync a good notify asked for', () =>
      existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')),
    );

    const health = await fetch(url.replace('/notify', '/healthz'));
    expect(health.status).toBe(200);
    const ready = await fetch(url.replace('/notify', '/readyz'));
    expect(ready.status).toBe(200);

    // Replays are refused, and a restart of the daemon does not reopen their window: the ids it
    // accepted are kept in its state dir (ours by signature, a forge's by delivery id).
    // A body of its own: the same body signed within the same second as `good` would be `good` again.
    const replayed = JSON.stringify({ node: 'prod-1', commit: 'replay-check' });
    const goodHeaders = signedHeaders(SECRET, replayed);
    expect((await fetch(url, { method: 'POST', body: replayed, headers: goodHeaders })).status).toBe(202);
    expect((await fetch(url, { method: 'POST', body: replayed, headers: goodHeaders })).status).toBe(409);
    const forgeBody = JSON.stringify({ ref: 'refs/heads/main' });
    const gitea = {
      'x-gitea-event': 'push',
      'x-gitea-delivery': 'delivery-before-restart',
      'x-gitea-signature': createHmac('sha256', SECRET).update(forgeBody).digest('hex'),
    };
    expect((await fetch(url, { method: 'POST', body: forgeBody, headers: gitea })).status).toBe(202);
    const exited = new Promise((r) => standby.child.once('exit', r));
    standby.child.kill('SIGTERM');
    await exited;
    const again = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/, { env });
    children.push(again.child);
    const url2 = `http://${/standby ready on (\S+):/.exec(again.output())![1]!}/notify`;
    expect((await fetch(url2, { method: 'POST', body: replayed, headers: goodHeaders })).status).toBe(409);
    expect((await fetch(url2, { method: 'POST', body: forgeBody, headers: gitea })).status).toBe(409);
    const fresh = { ...gitea, 'x-gitea-delivery': 'delivery-after-restart' };
    expect((await fetch(url2, { method: 'POST', body: forgeBody, headers: fresh })).status).toBe(202);
  });

  it('does not retry a quarantined commit on the next interval', async () => {
    const p = makePair({
      standby: {
        sync: { automatic: true, interval: '200ms', disableOnFailure: false },
        notify: { listen: '127.0.0.1:0' },
      },
    });
    pairs.push(p);
    await initRemote(p);
    const checkLog = join(p.dir, 'check.log');
    appendYaml(p.standby, {
      commands: {
        check: [
          '/bin/sh',
          '-c',
          `echo "$GITFAILOVER_COMMIT" >> ${checkLog}; ! grep -q 2222 "$GITFAILOVER_DIR/services.yaml"`,
        ],
      },
    });
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const standby = await startCli(['standby', '-c', p.standby], /standby ready/);
    children.push(standby.child);
    await waitFor('the first sync', () => existsSync(join(p.failLive, 'domains/acme')));

    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 2222 }] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    await waitFor('the check of the bad commit', () => readFileSync(checkLog, 'utf8').trim().split('\n').length >= 2);
    await new Promise((r) => setTimeout(r, 1500)); // several intervals
    const checks = readFileSync(checkLog, 'utf8').trim().split('\n');
    expect(checks).toHaveLength(2); // the good commit once, the bad one once: never retried
    expect(readFileSync(join(p.failLive, 'domains/acme/services.yaml'), 'utf8')).toContain('port: 22\n');
  });

  it('fires lag when the standby stays behind longer than sync.maxLag, and drift when its live dir is edited by hand', async () => {
    const p = makePair();
    pairs.push(p);
    await initRemote(p);
    const lagFile = join(p.dir, 'lag.json');
    const driftFile = join(p.dir, 'drift.json');
    const writeEnv = (file: string) => [
      process.execPath,
      '-e',
      'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.env))',
      file,
    ];
    appendYaml(p.standby, {
      sync: { automatic: false, interval: '100ms', maxLag: '400ms', driftCheck: '100ms' },
      notify: { listen: '127.0.0.1:0' },
      triggers: [
        { on: 'lag', exec: writeEnv(lagFile) },
        { on: 'drift', exec: writeEnv(driftFile) },
      ],
    });
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    expect((await cli(['sync', '-c', p.standby])).code).toBe(0);
    writeUser(p.prodLive, 'acme', 'bob');
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    writeFileSync(join(p.failLive, 'domains/acme/users/alice.yaml'), 'name: alice\nhome: /edited/by/hand\n');

    const standby = await startCli(['standby', '-c', p.standby], /standby ready/);
    children.push(standby.child);
    await waitFor('the lag event', () => existsSync(lagFile));
    const lag = JSON.parse(readFileSync(lagFile, 'utf8'));
    expect(lag.GITFAILOVER_EVENT).toBe('lag');
    expect(lag.GITFAILOVER_REASON).toBe('behind');
    await waitFor('the drift event', () => existsSync(driftFile));
    const drift = JSON.parse(readFileSync(driftFile, 'utf8'));
    expect(drift.GITFAILOVER_FILES).toContain('domains/acme/users/alice.yaml');
    expect(existsSync(join(p.failLive, 'domains/acme/users/bob.yaml'))).toBe(false); // automatic off: nothing synced
  });
});

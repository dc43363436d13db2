import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { signedHeaders } from '../../src/util/http-sign.js';
import {
  cli,
  git,
  initRemote,
  makePair,
  removeDir,
  startCli,
  writeDomain,
  writeFile,
  type Pair,
} from '../helpers/fixture.js';

/** Secrets never committed nor logged, and a notify that can only ask for a fetch. */
const NOTIFY_SECRET = 'notify-s3cret-value-0123456789';
const pairs: Pair[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const p of pairs.splice(0)) removeDir(p.dir);
});

async function pair(opts: Parameters<typeof makePair>[0] = {}): Promise<Pair> {
  const p = makePair(opts);
  pairs.push(p);
  await initRemote(p);
  return p;
}

function edit(file: string, change: (doc: Record<string, any>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(doc);
  writeFileSync(file, stringify(doc));
}

const remoteFiles = async (p: Pair) =>
  (await git(['ls-tree', '-r', '--name-only', 'main'], p.remote)).split('\n').filter(Boolean);

describe('secrets stay out of the config repo', () => {
  it('record refuses a file holding a private key block, names it, and commits nothing', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const before = await git(['rev-parse', 'main'], p.remote);
    writeFile(
      join(p.prodLive, 'domains/acme/keys/host_key'),
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    writeDomain(p.prodLive, 'globex');
    const r = await cli(['record', '-c', p.primary]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('domains/acme/keys/host_key');
    expect(r.stderr).toMatch(/private key block/);
    expect(await git(['rev-parse', 'main'], p.remote)).toBe(before);
    // Once the key is moved out of the live dir, the rest is recorded.
    writeFileSync(join(p.prodLive, 'domains/acme/keys/host_key'), 'moved to /etc/ssh\n');
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    expect(await remoteFiles(p)).toContain('domains/globex/domain.yaml');
  });

  it("record refuses a file holding the value of one of the node file's secrets, naming the field, never the value", async () => {
    const p = await pair({ primary: { notify: { secret: 'env:GF_NOTIFY_SECRET' } } });
    const env = { GF_NOTIFY_SECRET: NOTIFY_SECRET };
    writeDomain(p.prodLive, 'acme');
    writeFile(join(p.prodLive, 'native/hooks.conf'), `notify_token = ${NOTIFY_SECRET}\n`);
    const r = await cli(['record', '-c', p.primary], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('native/hooks.conf');
    expect(r.stderr).toContain('notify.secret');
    expect(r.stderr + r.stdout).not.toContain(NOTIFY_SECRET);
    expect(await git(['for-each-ref', 'refs/heads'], p.remote)).toBe('');
  });
});

describe('credentials never reach logs, errors, state or events', () => {
  it('strips the password of an https remote from the error, the state, the status and the event', async () => {
    const p = await pair();
    const token = 'ghp_S3cretTokenValue0123456789';
    const events = join(p.dir, 'events.log');
    edit(p.standby, (d) => {
      d.repo.remote = `https://gitfailover:${token}@127.0.0.1:9/mft-config.git`;
      d.sync = { timeout: '5s' };
      d.triggers = [{ on: 'sync', exec: ['/bin/sh', '-c', 'printf "%s\\n" "$GITFAILOVER_ERROR" >> "$0"', events] }];
    });
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot fetch from https:\/\/\*\*\*@127\.0\.0\.1:9/);
    const status = await cli(['status', '-c', p.standby, '--json']);
    const state = readFileSync(join(p.dir, 'fail-state', 'state.json'), 'utf8');
    expect(readFileSync(events, 'utf8')).toMatch(/\*\*\*@127\.0\.0\.1/);
    for (const text of [r.stderr, r.stdout, status.stdout, status.stderr, state, readFileSync(events, 'utf8')])
      expect(text).not.toContain(token);
  });
});

describe('notify only asks for a fetch', () => {
  it("a signed request naming another remote and commit still syncs only this node's remote head", async () => {
    const p = await pair({
      standby: {
        sync: { automatic: true, interval: '1h' },
        notify: { listen: '127.0.0.1:0', secret: 'env:GF_NOTIFY_SECRET' },
      },
    });
    const env = { GF_NOTIFY_SECRET: NOTIFY_SECRET };
    // An attacker's repo, with a commit the body points at.
    const evil = await pair();
    writeDomain(evil.prodLive, 'evil');
    expect((await cli(['record', '-c', evil.primary])).code).toBe(0);
    const evilCommit = (await git(['rev-parse', 'main'], evil.remote)).trim();

    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const head = (await git(['rev-parse', 'main'], p.remote)).trim();
    const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/, { env });
    children.push(standby.child);
    const url = `http://${/standby ready on (\S+):/.exec(standby.output())![1]!}/notify`;
    const waitApplied = async () => {
      for (let i = 0; i < 200 && !existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')); i++)
        await new Promise((r) => setTimeout(r, 50));
    };
    await waitApplied();

    const body = JSON.stringify({
      remote: evil.remote,
      commit: evilCommit,
      to: evilCommit,
      branch: 'main',
      config: { commands: { load: ['/bin/sh', '-c', 'touch /tmp/pwned'] } },
    });
    const res = await fetch(url, { method: 'POST', body, headers: signedHeaders(NOTIFY_SECRET, body) });
    expect(res.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1500));
    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'], { env })).stdout);
    expect(status.appliedCommit).toBe(head);
    expect(existsSync(join(p.failLive, 'domains/evil'))).toBe(false);
  });
});

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { liveBytes } from '../corpus/setup.js';
import { Crafter, files } from '../helpers/craft.js';
import { cli, initRemote, makePair, removeDir, type Pair } from '../helpers/fixture.js';

/**
 * Issue 18, "Why": one regression test per example, through the CLI, on a real repo. Where a
 * refusal is expected the live dir stays byte-identical.
 */
let p: Pair;
let crafter: Crafter;
let good: string;
const received: { url: string; headers: Record<string, unknown> }[] = [];
let server: Server;
let port: number;
let triggers: string;

const GOOD: Record<string, string> = {
  'server.yaml': 'name: mft\n',
  'domains/acme/domain.yaml': 'name: acme\n',
  'domains/acme/services.yaml': stringify({ services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] }),
  'domains/acme/users/alice.yaml': 'name: alice\nhome: /data/alice\n',
};

function edit(file: string, change: (doc: Record<string, any>) => void): string {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(doc);
  const out = `${file}.${Math.random().toString(36).slice(2)}.yaml`;
  writeFileSync(out, stringify(doc));
  return out;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    received.push({ url: req.url ?? '', headers: req.headers });
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  p = makePair();
  await initRemote(p);
  crafter = new Crafter(p.remote);
  // A domain's own triggers.yaml (anyone with push rights writes it) asks for a webhook to a
  // loopback "internal" endpoint with a cloud metadata header.
  triggers = stringify({
    triggers: [
      {
        on: 'sync',
        webhook: { url: `http://127.0.0.1:${port}/internal/admin`, headers: { 'Metadata-Flavor': 'Google' } },
      },
    ],
  });
  good = crafter.commit(crafter.buildTree(files({ ...GOOD, 'domains/acme/triggers.yaml': triggers })), [], 'good');
  crafter.setBranch('main', good);
}, 60_000);
afterAll(() => {
  server?.close();
  removeDir(p.dir);
});

describe('issue 18 regressions (CLI, real repo)', () => {
  it('6 + 4: commands get no tool secrets; a repo webhook to a host not in domainTriggers.allowHosts is not sent', async () => {
    const dump = join(p.dir, 'env-dump');
    const script = join(p.dir, 'dump-env.sh');
    writeFileSync(script, `#!/bin/sh\nenv > ${dump}\n`, { mode: 0o755 });
    const cfg = edit(p.standby, (d) => {
      d.commands = { load: [script] };
      d.triggers = [
        {
          on: 'sync',
          if: 'success == false',
          email: { to: 'ops@example.com', smtp: { host: '127.0.0.1', port: 1, pass: 'env:HARDENING_SMTP_PASS' } },
        },
      ];
    });
    const r = await cli(['sync', '-c', cfg], {
      env: { GITFAILOVER_NOTIFY_SECRET: 'NOTIFY-SECRET-VALUE', HARDENING_SMTP_PASS: 'SMTP-PASS-VALUE' },
    });
    expect(r.code, r.stderr).toBe(0);
    const env = readFileSync(dump, 'utf8');
    expect(env).toContain('GITFAILOVER_DOMAIN=acme');
    expect(env).not.toContain('NOTIFY-SECRET-VALUE');
    expect(env).not.toContain('SMTP-PASS-VALUE');
    expect(received).toEqual([]);
    expect(r.stderr).toMatch(/triggers\.yaml of domain acme.*not in domainTriggers\.allowHosts/);
  });

  it('1: a commit replacing domains/ by a file is refused, nothing is lost, and a pushed revert converges without a hand edit', async () => {
    const before = liveBytes(p.failLive);
    const bad = crafter.commit(
      crafter.buildTree(files({ 'server.yaml': 'name: mft\n', domains: 'a file now\n' })),
      [good],
      'domains/ becomes a file',
    );
    crafter.setBranch('main', bad);
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(bad.slice(0, 12));
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(liveBytes(p.failLive)).toEqual(before);
    expect(existsSync(join(p.dir, 'fail-state', 'journal.json'))).toBe(false);
    expect(existsSync(join(p.failLive, '.gitfailover-staging'))).toBe(false);
    // A kill half-way through an apply to that commit (as if the refusal had come later): the
    // journal names it and the domain is gone. The next sync is refused again, but puts acme back
    // and drops the journal instead of wedging on it.
    const journal = join(p.dir, 'fail-state', 'journal.json');
    writeFileSync(
      journal,
      JSON.stringify({
        target: bad,
        from: good,
        mode: 'partial',
        started: new Date().toISOString(),
        domains: ['acme'],
        globals: ['domains'],
      }),
    );
    rmSync(join(p.failLive, 'domains', 'acme'), { recursive: true });
    const wedged = await cli(['sync', '-c', p.standby]);
    expect(wedged.code).toBe(1);
    expect(wedged.stderr).toContain(bad.slice(0, 12));
    expect(liveBytes(p.failLive)).toEqual(before);
    expect(existsSync(journal)).toBe(false);
    // The README's fix and a pushed revert both work.
    const revert = crafter.commit(
      crafter.buildTree(files({ ...GOOD, 'domains/acme/triggers.yaml': triggers })),
      [bad],
      'revert',
    );
    crafter.setBranch('main', revert);
    const again = await cli(['sync', '-c', p.standby]);
    expect(again.code, again.stderr).toBe(0);
    expect((await cli(['sync', '-c', p.standby, '--full'])).code).toBe(0);
    expect(liveBytes(p.failLive)).toEqual(before);
  });

  it('1: an apply that fails half-way on the file system (EISDIR) puts back the domain it had deleted, leaves no journal nor staging, and is superseded by a newer commit', async () => {
    crafter.setBranch('main', good);
    expect((await cli(['sync', '-c', p.standby, '--full'])).code).toBe(0);
    // A folder the operator keeps in the live dir, where the next commit puts a file.
    mkdirSync(join(p.failLive, 'notes'), { recursive: true });
    writeFileSync(join(p.failLive, 'notes', 'todo'), 'mine\n');
    const before = liveBytes(p.failLive);
    const clash = crafter.commit(
      crafter.buildTree(files({ 'server.yaml': 'name: mft\n', notes: 'a file\n' })),
      [good],
      'acme goes, notes becomes a file',
    );
    crafter.setBranch('main', clash);
    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    // Found while planning now (E_TYPE_CLASH, admission rules), before anything is deleted; the
    // fault-injection trials (test/trials/apply-faults.test.ts) cover a file-system step failing mid-apply.
    expect(r.stderr).toMatch(
      new RegExp(
        `notes in commit ${clash.slice(0, 12)}: is a file in the commit but a folder in the live dir .*Nothing was applied; move what is in the way out of the live dir`,
      ),
    );
    // One sentence (the other stderr line is the domain trigger's skipped webhook of the first test's rule).
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => !l.includes('webhook skipped')),
      r.stderr,
    ).toHaveLength(1);
    expect(liveBytes(p.failLive)).toEqual(before);
    expect(existsSync(join(p.dir, 'fail-state', 'journal.json'))).toBe(false);
    expect(existsSync(join(p.failLive, '.gitfailover-staging'))).toBe(false);
    const fixed = crafter.commit(
      crafter.buildTree(files({ ...GOOD, 'domains/acme/triggers.yaml': triggers, 'server.yaml': 'name: mft2\n' })),
      [clash],
      'put acme back',
    );
    crafter.setBranch('main', fixed);
    const again = await cli(['sync', '-c', p.standby]);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(p.failLive, 'server.yaml'), 'utf8')).toBe('name: mft2\n');
    expect(readFileSync(join(p.failLive, 'notes', 'todo'), 'utf8')).toBe('mine\n');
  });

  it('2 + 3 + 7: node files that would write outside the live dir, spin, or point at files are refused with exit 2 and one sentence', async () => {
    mkdirSync(join(p.dir, 'sub', 'aaa-precious'), { recursive: true });
    writeFileSync(join(p.dir, 'sub', 'aaa-precious', 'keep'), 'precious\n');
    writeFileSync(join(p.dir, 'a-file'), 'x\n');
    const cases: [(d: Record<string, any>) => void, RegExp][] = [
      [(d) => (d.live = { dir: join(p.dir, 'sub', 'live'), domains: '../*' }), /live\.domains/],
      [(d) => (d.repo.stateDir = join(p.failLive, 'gfstate')), /overlap \(the state dir is inside the live dir\)/],
      [(d) => (d.sync = { interval: '999999h' }), /sync\.interval: must be between 100ms and 24h/],
      [(d) => (d.commands = { timeout: '1000h' }), /commands\.timeout: must be between 100ms and 24h/],
      [(d) => (d.repo.stateDir = join(p.dir, 'a-file', 'state')), /repo\.stateDir: .*is a file, not a folder/],
      [(d) => (d.live = { dir: join(p.dir, 'a-file') }), /live\.dir: .*is a file, not a folder/],
    ];
    const before = liveBytes(p.failLive);
    for (const [change, message] of cases) {
      const cfg = edit(p.standby, change);
      const r = await cli(['sync', '-c', cfg]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/ENOTDIR|EISDIR|\n\s+at /);
    }
    expect(readFileSync(join(p.dir, 'sub', 'aaa-precious', 'keep'), 'utf8')).toBe('precious\n');
    expect(liveBytes(p.failLive)).toEqual(before);
  });

  it('6: doctor warns about a plain-text notify.secret and says how to use env: or file:', async () => {
    const cfg = edit(p.standby, (d) => (d.notify = { secret: 'plain-text-secret-1234' }));
    const r = await cli(['doctor', '-c', cfg]);
    expect(r.stdout).toMatch(/warn\s+secrets: .*notify\.secret is written in plain text.*env:NAME.*file:PATH/);
    expect(r.stdout + r.stderr).not.toContain('plain-text-secret-1234');
  });
});

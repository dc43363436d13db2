import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verify } from '../../src/util/http-sign.js';
import {
  gitIn,
  makeFixture,
  remoteHead,
  remoteSubjects,
  runCli,
  sleep,
  startDaemon,
  userYaml,
  type DaemonProcess,
  type PrimaryFixture,
} from '../helpers/primary.js';

const SECRET = 'test-notify-secret';

let fx: PrimaryFixture;
let daemons: DaemonProcess[] = [];
let servers: Server[] = [];

function daemon(env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const d = startDaemon(fx.nodeFile, env);
  daemons.push(d);
  return d;
}

beforeEach(async () => {
  fx = makeFixture();
  const first = await runCli(['record', '-c', fx.nodeFile]);
  expect(first.code, first.stderr).toBe(0);
});
afterEach(async () => {
  for (const d of daemons) d.kill('SIGKILL');
  await Promise.all(daemons.map((d) => d.exited));
  daemons = [];
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
  fx.cleanup();
});

describe('primary daemon', () => {
  it('makes one commit of 20 writes within 100ms', async () => {
    const d = daemon();
    await d.waitFor(/^ready/);
    const before = remoteSubjects(fx.remote).length;
    for (let i = 0; i < 20; i++) {
      fx.write(`domains/acme/users/u${String(i).padStart(2, '0')}.yaml`, userYaml(`u${String(i).padStart(2, '0')}`));
      await sleep(4);
    }
    await d.waitFor(/^pushed 1 commit /);
    await sleep(1_000); // three debounce periods: a late second commit would show up here
    expect(d.count(/^recorded /)).toBe(1);
    expect(remoteSubjects(fx.remote)).toHaveLength(before + 1);
    expect(gitIn(fx.remote, ['ls-tree', '--name-only', 'main', 'domains/acme/users/']).split('\n')).toHaveLength(20);
  });

  it('makes two commits of two changes a second apart', async () => {
    const d = daemon();
    await d.waitFor(/^ready/);
    fx.write('domains/acme/users/alice.yaml', userYaml('alice'));
    await sleep(1_000);
    fx.write('domains/acme/users/bob.yaml', userYaml('bob'));
    await d.waitForCount(/^pushed /, 2);
    expect(d.lines.filter((l) => l.startsWith('recorded ')).map((l) => l.replace(/^recorded \w+ /, ''))).toEqual([
      'acme: add user alice',
      'acme: add user bob',
    ]);
    expect(remoteSubjects(fx.remote).slice(-2)).toEqual(['acme: add user alice', 'acme: add user bob']);
  });

  it('ignores live.exclude and .gitfailover* files', async () => {
    const d = daemon();
    await d.waitFor(/^ready/);
    fx.write('data/upload.bin', 'user data');
    fx.write('domains/acme/access.log', 'GET /\n');
    fx.write('.gitfailover-scratch', 'x');
    await sleep(1_000);
    expect(d.count(/^recorded /)).toBe(0);
  });

  it('loses nothing when SIGKILLed between commit and push: the next start pushes the commit', async () => {
    const away = `${fx.remote}.away`;
    renameSync(fx.remote, away);
    const d = daemon();
    await d.waitFor(/^ready/);
    fx.write('domains/acme/users/carol.yaml', userYaml('carol'));
    await d.waitFor(/^recorded \w+ acme: add user carol$/);
    await d.waitFor(/push failed \(1 unpushed/);
    d.kill('SIGKILL');
    await d.exited;

    renameSync(away, fx.remote);
    expect(remoteSubjects(fx.remote)).not.toContain('acme: add user carol');
    const again = daemon();
    await again.waitFor(/^pushed 1 commit /);
    await again.waitFor(/^ready/);
    expect(remoteSubjects(fx.remote).at(-1)).toBe('acme: add user carol');
    expect(again.count(/^recorded /)).toBe(0); // the change was already recorded, once
  });

  it('retries a failed push with backoff until the remote is back, without holding up records', async () => {
    const away = `${fx.remote}.away`;
    renameSync(fx.remote, away);
    const d = daemon();
    await d.waitFor(/^ready/);
    fx.write('domains/acme/users/dave.yaml', userYaml('dave'));
    await d.waitFor(/push failed \(1 unpushed.*retry 1 in/);
    fx.write('domains/acme/users/erin.yaml', userYaml('erin'));
    await d.waitFor(/^recorded \w+ acme: add user erin$/);
    await d.waitFor(/push failed \(2 unpushed/);
    renameSync(away, fx.remote);
    await d.waitFor(/^pushed 2 commits /);
    expect(remoteSubjects(fx.remote).slice(-2)).toEqual(['acme: add user dave', 'acme: add user erin']);
  });

  it('answers a non-fast-forward rejection by taking the other commits in and pushing on top: nothing forced, nothing lost', async () => {
    fx.write('domains/acme/users/ivan.yaml', userYaml('ivan'));
    expect((await runCli(['record', '-c', fx.nodeFile])).code).toBe(0);
    // Another clone rewrote the remote's branch behind this node's back: its head no longer
    // descends from this node's last commit, so this node's next push cannot fast-forward.
    const other = mkdtempSync(join(tmpdir(), 'gitfailover-other-'));
    try {
      execFileSync('git', ['clone', '--quiet', fx.remote, other]);
      execFileSync('git', ['-C', other, 'reset', '--quiet', '--hard', 'HEAD~1']);
      execFileSync('git', [
        '-C',
        other,
        '-c',
        'user.name=x',
        '-c',
        'user.email=x@x',
        'commit',
        '--quiet',
        '--allow-empty',
        '-m',
        'written elsewhere',
      ]);
      execFileSync('git', ['-C', other, 'push', '--quiet', '--force', 'origin', 'HEAD:main']);
      const theirs = remoteHead(fx.remote)!;

      const d = daemon();
      await d.waitFor(/^ready/);
      fx.write('domains/acme/users/frank.yaml', userYaml('frank'));
      await d.waitFor(/^pushed /, 30_000);
      for (
        let i = 0;
        i < 100 && !gitIn(fx.remote, ['ls-tree', '--name-only', 'main', 'domains/acme/users/']).includes('frank.yaml');
        i++
      )
        await sleep(100);
      // Their commit stays in the history (never forced over); ivan, replayed on it, and frank are both there.
      expect(gitIn(fx.remote, ['merge-base', '--is-ancestor', theirs, 'main'])).toBe('');
      expect(gitIn(fx.remote, ['ls-tree', '--name-only', 'main', 'domains/acme/users/']).split('\n').sort()).toEqual([
        'domains/acme/users/frank.yaml',
        'domains/acme/users/ivan.yaml',
      ]);
      expect(existsSync(join(fx.live, 'domains/acme/users/ivan.yaml'))).toBe(true);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('on a file event pushes without fetching; a rejected push takes in the pushed commit (no merge commit) or the role change that fences it', async () => {
    // The poll timer fetches first: kept out of the way so that only file events record here.
    fx.writeNode({ sync: { interval: '1h' }, record: { debounce: '50ms', retry: '100ms', retryMax: '500ms' } });
    const trace = join(fx.dir, 'git.trace.json');
    // git's own trace of every process the daemon starts (GIT_* variables reach its git children).
    const traced = (from: number): { argv: string[]; end: number } => {
      const text = existsSync(trace) ? readFileSync(trace, 'utf8') : '';
      const argv: string[] = [];
      for (const line of text.slice(from).split('\n')) {
        if (!line) continue;
        const e = JSON.parse(line) as { event: string; sid: string; argv?: string[] };
        if (e.event !== 'start' || e.sid.includes('/')) continue;
        // The git command itself: the first word after the global options (--git-dir X, -c X).
        const words = (e.argv ?? []).slice(1);
        let i = 0;
        while (i < words.length && words[i]!.startsWith('-'))
          i += words[i] === '-c' || !words[i]!.includes('=') ? 2 : 1;
        argv.push(words[i] ?? '');
      }
      return { argv, end: text.length };
    };
    const other = mkdtempSync(join(tmpdir(), 'gitfailover-other-'));
    const otherGit = (args: string[]) =>
      execFileSync('git', ['-C', other, '-c', 'user.name=Reviewer', '-c', 'user.email=r@example.org', ...args], {
        encoding: 'utf8',
      }).trim();
    try {
      const d = daemon({ GIT_TRACE2_EVENT: trace });
      await d.waitFor(/^ready/);

      // Nobody else wrote: the change is pushed on the last known head, no fetch before it.
      let at = traced(0).end;
      let m = d.mark();
      fx.write('domains/acme/users/alice.yaml', userYaml('alice'));
      await d.waitFor(/^pushed 1 commit /, 15_000, m);
      let seen = traced(at);
      expect(seen.argv).toContain('push');
      expect(seen.argv.filter((a) => a.includes('fetch'))).toEqual([]);

      // A merged pull request: a commit pushed from another clone. The next live edit's push is
      // rejected, the commit undone, and the record made the fetch-first way: the same linear history.
      otherGit(['clone', '--quiet', fx.remote, '.']);
      writeFileSync(join(other, 'domains/acme/users/bob.yaml'), userYaml('bob'));
      otherGit(['add', '-A']);
      otherGit(['commit', '--quiet', '-m', 'acme: add user bob (pull request)']);
      otherGit(['push', '--quiet', 'origin', 'HEAD:main']);
      const merged = remoteHead(fx.remote)!;
      at = traced(0).end;
      m = d.mark();
      fx.write('domains/acme/users/carol.yaml', userYaml('carol'));
      await d.waitFor(/^applied 1 commit\(s\) from main/, 15_000, m);
      await d.waitFor(/^pushed 1 commit /, 15_000, m);
      seen = traced(at);
      expect(seen.argv.filter((a) => a === 'push').length, seen.argv.join(' ')).toBeGreaterThanOrEqual(2);
      expect(seen.argv.indexOf('fetch-pack'), seen.argv.join(' ')).toBeGreaterThan(seen.argv.indexOf('push'));
      expect(remoteSubjects(fx.remote).slice(-3)).toEqual([
        'acme: add user alice',
        'acme: add user bob (pull request)',
        'acme: add user carol',
      ]);
      expect(gitIn(fx.remote, ['rev-list', '--merges', 'main'])).toBe('');
      expect(gitIn(fx.remote, ['rev-parse', 'main^'])).toBe(merged);
      expect(readdirSync(join(fx.live, 'domains/acme/users')).sort()).toEqual(['alice.yaml', 'bob.yaml', 'carol.yaml']);

      // Another node took the role over: the rejected push, the fetch, and the role it carries
      // fence this primary; nothing is recorded on top, the remote stays at the role change.
      otherGit(['pull', '--quiet', 'origin', 'main']);
      writeFileSync(
        join(other, '.gitfailover/primary'),
        'node: dr-1\nepoch: 2\ntime: 2026-01-01T00:00:00.000Z\nreason: promote\n',
      );
      otherGit(['add', '-A']);
      otherGit(['commit', '--quiet', '-m', 'dr-1 takes over']);
      otherGit(['push', '--quiet', 'origin', 'HEAD:main']);
      const promoted = remoteHead(fx.remote)!;
      m = d.mark();
      fx.write('domains/acme/users/dave.yaml', userYaml('dave'));
      await d.waitFor(/^record failed: the repo names dr-1 as primary/, 15_000, m);
      expect(remoteHead(fx.remote)).toBe(promoted);
      expect(gitIn(fx.remote, ['ls-tree', '--name-only', 'main', 'domains/acme/users/'])).not.toContain('dave');
      expect(d.count(/^recorded \w+ acme: add user dave/)).toBe(0);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('POSTs a signed notification to every standby after a push, and heartbeats; a dead standby delays nobody', async () => {
    const received: { headers: IncomingHttpHeaders; body: Buffer; at: number }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks), at: Date.now() });
        res.end('ok');
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    // A standby that accepts the connection and never answers; when the primary gives up on it
    // (its notify timeout), the connection closes.
    let hungClosedAt: number | undefined;
    const hung = createServer((req) => req.socket.on('close', () => (hungClosedAt ??= Date.now())));
    servers.push(hung);
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const hungPort = (hung.address() as AddressInfo).port;
    fx.writeNode({
      notify: {
        standbys: [`http://127.0.0.1:${hungPort}/notify`, `http://127.0.0.1:${port}/notify`],
        secret: 'env:TEST_NOTIFY_SECRET',
        heartbeat: '700ms',
      },
    });
    const d = startDaemon(fx.nodeFile, { TEST_NOTIFY_SECRET: SECRET });
    daemons.push(d);
    await d.waitFor(/^ready/);
    fx.write('domains/acme/users/grace.yaml', userYaml('grace'));
    await d.waitFor(/^pushed 1 commit/);
    const head = remoteHead(fx.remote)!;
    for (let i = 0; i < 50 && !received.some((r) => !JSON.parse(r.body.toString()).heartbeat); i++) await sleep(50);
    const notify = received.find((r) => !JSON.parse(r.body.toString()).heartbeat)!;
    expect(notify, 'no notify POST received').toBeDefined();
    expect(verify(SECRET, notify.headers, notify.body)).toEqual({ ok: true, via: 'gitfailover' });
    expect(verify('wrong-secret', notify.headers, notify.body).ok).toBe(false);
    expect(JSON.parse(notify.body.toString())).toEqual({ node: 'prod-1', commit: head });
    // The hung standby did not hold up the live one: the live one was notified while the primary
    // was still waiting on the hung one (an order, not a timing threshold).
    expect(hungClosedAt === undefined || notify.at <= hungClosedAt, 'the live standby waited for the hung one').toBe(
      true,
    );

    // A heartbeat sent before the push names the previous head: wait for one that names this head.
    const beatOf = (r: { body: Buffer }) => {
      const b = JSON.parse(r.body.toString());
      return b.heartbeat && b.commit === head;
    };
    for (let i = 0; i < 100 && !received.some(beatOf); i++) await sleep(50);
    const beat = received.find(beatOf);
    expect(beat, 'no heartbeat received').toBeDefined();
    expect(verify(SECRET, beat!.headers, beat!.body).ok).toBe(true);
    expect(JSON.parse(beat!.body.toString())).toEqual({ node: 'prod-1', commit: head, heartbeat: true });
  });

  it('stops cleanly on SIGTERM, recording a change still in its quiet period', async () => {
    fx.writeNode({ record: { debounce: '2s', retry: '100ms', retryMax: '500ms' } });
    const d = daemon();
    await d.waitFor(/^ready/);
    fx.write('domains/acme/users/heidi.yaml', userYaml('heidi'));
    await sleep(400); // the watcher has seen it; the 2s quiet period has not passed
    d.kill('SIGTERM');
    const { code } = await d.exited;
    expect(code).toBe(0);
    expect(d.lines.at(-1)).toBe('stopped');
    expect(remoteSubjects(fx.remote).at(-1)).toBe('acme: add user heidi');
  });

  it('"primary" is an alias of "run": on a node whose role is standby it serves as a standby, and says so', async () => {
    fx.writeNode({ role: 'standby', notify: { listen: '127.0.0.1:0' } });
    const d = startDaemon(fx.nodeFile);
    await d.waitFor(/role is standby .*serving as a standby until "gitfailover promote"/);
    await d.waitFor(/standby ready on 127\.0\.0\.1:\d+/);
    d.kill('SIGTERM');
    expect((await d.exited).code).toBe(0);
    expect(remoteSubjects(fx.remote)).toEqual(['initial configuration of prod-1']); // a standby records nothing
  });
});

// One of the role-*.test.ts files, split by scenario so that two workers share the long role scenarios.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, writeDomain, writeFile, writeUser, usePairs, cliOk } from '../helpers/fixture.js';
import { remoteFile, remotePrimary } from '../helpers/remote.js';

const pair = usePairs();
const ok = cliOk;

describe('promote and demote', () => {
  it('full cycle: failover, records in production terms, split-brain refusal, failback, nothing lost', async () => {
    const p = await pair();
    const startLog = join(p.dir, 'start.log');
    const events = join(p.dir, 'events.log');
    const appendArgv = (file: string, what: string) => ['/bin/sh', '-c', `echo "${what}" >> "$0"`, file];
    // The failover starts its domains on promote, and substitutes inside native configs too.
    writeFileSync(
      p.standby,
      readFileSync(p.standby, 'utf8') +
        stringify({
          commands: { start: appendArgv(startLog, '$GITFAILOVER_DOMAIN') },
          triggers: [{ on: 'promote', exec: appendArgv(events, '$GITFAILOVER_EVENT $GITFAILOVER_NODE') }],
        }).replace(/^/, ''),
    );
    const sub = parse(readFileSync(p.standby, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      p.standby,
      stringify({ ...sub, substitution: { ...(sub.substitution as object), files: ['native/**/*.conf'] } }),
    );
    writeFileSync(
      p.primary,
      stringify({
        ...(parse(readFileSync(p.primary, 'utf8')) as object),
        triggers: [{ on: 'split-brain', exec: appendArgv(events, '$GITFAILOVER_EVENT $GITFAILOVER_PRIMARIES') }],
      }),
    );

    // A and B on production; the standby applies them.
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    writeFile(join(p.prodLive, 'native/acme/listen.conf'), 'Listen 10.0.0.5:2121\n');
    await ok(['record', '-c', p.primary, '-m', 'A']);
    writeUser(p.prodLive, 'acme', 'bob');
    await ok(['record', '-c', p.primary, '-m', 'B']);
    await ok(['sync', '-c', p.standby]);
    expect(readFileSync(join(p.failLive, 'domains/acme/services.yaml'), 'utf8')).toContain('10.1.0.5');

    // Production stops; the failover takes over.
    const ready = await cli(['ready', '-c', p.standby]);
    expect(ready.code, ready.stdout).toBe(0);
    const pr = await ok(['promote', '-c', p.standby, '--reason', 'prod-1 is down', '--actor', 'Ops <ops@example.com>']);
    expect(pr.stdout).toMatch(/failover-1 is the primary \(epoch 2, was prod-1\)/);
    expect(readFileSync(startLog, 'utf8').trim().split('\n')).toEqual(['acme']);
    expect(await remotePrimary(p)).toMatchObject({ node: 'failover-1', epoch: 2 });
    const st = JSON.parse((await ok(['status', '-c', p.standby, '--json'])).stdout);
    expect(st.role).toBe('primary');
    expect(st.unpushed).toBe(0);

    // C on the promoted node, with the failover's own addresses: the repo gets production's.
    writeUser(p.failLive, 'acme', 'carol');
    writeDomain(p.failLive, 'beta', { services: [{ name: 'ftps', protocol: 'ftps', ip: '10.1.0.5', port: 990 }] });
    writeFile(join(p.failLive, 'native/acme/listen.conf'), 'Listen 10.1.0.5:2121\nListen 10.1.0.5:2122\n');
    const c = await ok(['record', '-c', p.standby, '-m', 'C']);
    expect(c.stdout).toMatch(/pushed/);
    expect(await remoteFile(p, 'domains/beta/services.yaml')).toContain('ip: 10.0.0.5');
    expect(await remoteFile(p, 'native/acme/listen.conf')).toBe('Listen 10.0.0.5:2121\nListen 10.0.0.5:2122\n');
    expect(await remoteFile(p, 'domains/acme/services.yaml')).toContain('ip: 10.0.0.5');
    const changed = await git(['--git-dir', p.remote, 'show', '--name-only', '--format=', 'main']);
    expect(changed.trim().split('\n').sort()).toEqual([
      'domains/acme/users/carol.yaml',
      'domains/beta/domain.yaml',
      'domains/beta/services.yaml',
      'native/acme/listen.conf',
    ]);
    const all = await git(['--git-dir', p.remote, 'grep', '-l', '10.1.0.5', 'main']).catch(() => '');
    expect(all).toBe('');

    // Production returns believing it is primary: it refuses, and says so through its triggers.
    const refused = await cli(['record', '-c', p.primary]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/names failover-1 as primary \(epoch 2/);
    expect(refused.stderr).toMatch(/gitfailover demote/);
    expect(readFileSync(events, 'utf8')).toMatch(/split-brain prod-1\nfailover-1/);
    const split = await cli(['status', '-c', p.primary]);
    expect(split.stdout).toMatch(/SPLIT BRAIN/);
    expect(split.code).toBe(3); // README "Exit codes"
    expect(split.stdout).toMatch(/^ready: +no \(role: SPLIT BRAIN/m);

    // demote: production follows the repo and has A, B, C in its own terms.
    const d = await ok(['demote', '-c', p.primary]);
    expect(d.stdout).toMatch(/prod-1 is a standby, following failover-1 \(epoch 2\)/);
    expect(d.stdout).not.toMatch(/orphaned/);
    for (const u of ['alice', 'bob', 'carol'])
      expect(existsSync(join(p.prodLive, `domains/acme/users/${u}.yaml`))).toBe(true);
    expect(readFileSync(join(p.prodLive, 'domains/beta/services.yaml'), 'utf8')).toContain('ip: 10.0.0.5');
    expect(readFileSync(join(p.prodLive, 'native/acme/listen.conf'), 'utf8')).toBe(
      'Listen 10.0.0.5:2121\nListen 10.0.0.5:2122\n',
    );
    expect((await cli(['record', '-c', p.primary])).stderr).toMatch(/prod-1 is a standby/);
    expect(readFileSync(events, 'utf8')).toMatch(/promote failover-1/);

    // Failback: production promotes, the failover demotes; roles are as they started.
    await ok(['promote', '-c', p.primary, '--reason', 'failback']);
    expect(await remotePrimary(p)).toMatchObject({ node: 'prod-1', epoch: 3 });
    expect((await cli(['record', '-c', p.standby])).code).toBe(1); // failover still acts as primary: refused
    await ok(['demote', '-c', p.standby]);
    writeUser(p.prodLive, 'beta', 'erin');
    await ok(['record', '-c', p.primary, '-m', 'D']);
    await ok(['sync', '-c', p.standby]);
    expect(existsSync(join(p.failLive, 'domains/beta/users/erin.yaml'))).toBe(true);
    expect(readFileSync(join(p.failLive, 'domains/beta/services.yaml'), 'utf8')).toContain('ip: 10.1.0.5');
    expect(JSON.parse((await ok(['status', '-c', p.standby, '--json'])).stdout).role).toBe('standby');
    expect(JSON.parse((await ok(['status', '-c', p.primary, '--json'])).stdout).role).toBe('primary');

    // The history tells the story, oldest first.
    const story = (
      await git([
        '--git-dir',
        p.remote,
        'log',
        '--reverse',
        '--format=%s|%(trailers:key=Node,valueonly,separator=)',
        'main',
      ])
    )
      .trim()
      .split('\n');
    expect(story.map((l) => l.split('|')[1])).toEqual([
      'prod-1',
      'prod-1',
      'failover-1',
      'failover-1',
      'prod-1',
      'prod-1',
    ]);
    expect(story[2]).toMatch(/^promote failover-1 to primary \(epoch 2\)/);
    expect(story[4]).toMatch(/^promote prod-1 to primary \(epoch 3\)/);
    const body = await git(['--git-dir', p.remote, 'log', '-1', '--format=%B%an', 'main~3']);
    expect(body).toMatch(/prod-1 is down/);
    expect(body).toMatch(/Role-Change: promote\nPrimary: failover-1\nEpoch: 2\nPrevious-Primary: prod-1/);
    expect(body.trim()).toMatch(/Ops$/);
  }, 240_000);
});

import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitIn, makeFixture, remoteSubjects, runCli, userYaml, type PrimaryFixture } from '../helpers/primary.js';

let fx: PrimaryFixture;
beforeEach(async () => {
  fx = makeFixture();
  const first = await runCli(['record', '-c', fx.nodeFile]);
  expect(first.code, first.stderr).toBe(0);
});
afterEach(() => fx.cleanup());

describe('record', () => {
  it('turns an added user file into exactly one commit that names the domain and the user; a second run makes none', async () => {
    const before = remoteSubjects(fx.remote).length;
    fx.write('domains/acme/users/alice.yaml', userYaml('alice'));

    const r = await runCli(['record', '-c', fx.nodeFile, '--actor', 'Ann Admin <ann@example.com>']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^recorded [0-9a-f]{12} acme: add user alice$/m);
    const subjects = remoteSubjects(fx.remote);
    expect(subjects).toHaveLength(before + 1);
    expect(subjects.at(-1)).toBe('acme: add user alice');
    expect(gitIn(fx.remote, ['log', '-1', '--format=%an <%ae>', 'main'])).toBe('Ann Admin <ann@example.com>');
    const body = gitIn(fx.remote, ['log', '-1', '--format=%b', 'main']);
    expect(body).toContain('- acme: add user alice');
    expect(body).toMatch(/^Changed-By: Ann Admin$/m);
    expect(body).toMatch(/^Node: prod-1$/m);

    const again = await runCli(['record', '-c', fx.nodeFile]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe('no change');
    expect(remoteSubjects(fx.remote)).toHaveLength(before + 1);
  });

  it('keeps three commits locally while the remote is unreachable, and the next record pushes all three in order', async () => {
    const before = remoteSubjects(fx.remote);
    const away = `${fx.remote}.away`;
    renameSync(fx.remote, away);
    for (const user of ['u1', 'u2', 'u3']) {
      fx.write(`domains/acme/users/${user}.yaml`, userYaml(user));
      const r = await runCli(['record', '-c', fx.nodeFile]);
      expect(r.code, r.stderr).toBe(0); // the change is safe in the clone: not a failure
      expect(r.stdout).toContain(`acme: add user ${user}`);
      expect(r.stderr).toMatch(/cannot fetch from|cannot push to/);
    }
    const status = await runCli(['status', '-c', fx.nodeFile, '--json']);
    expect(JSON.parse(status.stdout).unpushed).toBe(3);

    renameSync(away, fx.remote);
    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('no change');
    expect(r.stdout).toContain('pushed to main');
    expect(remoteSubjects(fx.remote)).toEqual([
      ...before,
      'acme: add user u1',
      'acme: add user u2',
      'acme: add user u3',
    ]);
    const after = await runCli(['status', '-c', fx.nodeFile, '--json']);
    expect(JSON.parse(after.stdout).unpushed).toBe(0);
  });

  it('serializes two records started at once: both succeed and both changes land', async () => {
    fx.write('domains/acme/users/first.yaml', userYaml('first'));
    const a = runCli(['record', '-c', fx.nodeFile, '--actor', 'admin-a']);
    fx.write('domains/acme/users/second.yaml', userYaml('second'));
    const b = runCli(['record', '-c', fx.nodeFile, '--actor', 'admin-b']);
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);
    const files = gitIn(fx.remote, ['ls-tree', '-r', '--name-only', 'main', '--', 'domains/acme/users']).split('\n');
    expect(files).toEqual(['domains/acme/users/first.yaml', 'domains/acme/users/second.yaml']);
    // Linear history, nothing lost in between: the clone and the remote agree.
    expect(gitIn(join(fx.state, 'repo.git'), ['rev-parse', 'main'])).toBe(gitIn(fx.remote, ['rev-parse', 'main']));
    expect(gitIn(fx.remote, ['rev-list', '--merges', 'main'])).toBe('');
  });

  it('stamps the repo with this node as primary on first use and refuses to record for another node', async () => {
    expect(gitIn(fx.remote, ['show', 'main:.gitfailover/primary'])).toMatch(/node: prod-1/);
    fx.writeNode({ node: 'prod-2', repo: { remote: fx.remote, branch: 'main', stateDir: join(fx.dir, 'state2') } });
    fx.write('domains/acme/users/eve.yaml', userYaml('eve'));
    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/names prod-1 as primary/);
  });
});

import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  gitIn,
  makeFixture,
  remoteHead,
  remoteSubjects,
  runCli,
  userYaml,
  type PrimaryFixture,
} from '../helpers/primary.js';

let fx: PrimaryFixture;

async function rec(actor = 'ann'): Promise<void> {
  const r = await runCli(['record', '-c', fx.nodeFile, '--actor', actor]);
  expect(r.code, r.stderr).toBe(0);
}

/** The commit of the remote whose subject is `subject`. */
function commitOf(subject: string): string {
  const line = gitIn(fx.remote, ['log', '--format=%H %s', 'main'])
    .split('\n')
    .find((l) => l.slice(41) === subject);
  expect(line, `no commit "${subject}" in the remote`).toBeDefined();
  return line!.slice(0, 40);
}

beforeEach(async () => {
  fx = makeFixture();
  await rec();
});
afterEach(() => fx.cleanup());

describe('log', () => {
  it('prints the audit trail as JSON, newest first, and filters by domain and user', async () => {
    fx.write('domains/acme/users/alice.yaml', userYaml('alice'));
    await rec('Ann Admin <ann@example.com>');
    fx.write('domains/beta/domain.yaml', 'name: beta\nenabled: true\n');
    await rec('bob');
    fx.write('domains/beta/users/alice.yaml', userYaml('alice', '/srv/beta/alice'));
    await rec('carl');

    const all = await runCli(['log', '-c', fx.nodeFile, '--json']);
    expect(all.code, all.stderr).toBe(0);
    const entries = JSON.parse(all.stdout) as Record<string, unknown>[];
    expect(entries).toHaveLength(4);
    for (const e of entries)
      expect(Object.keys(e)).toEqual(
        expect.arrayContaining(['commit', 'time', 'author', 'node', 'subject', 'changes']),
      );
    expect(entries.map((e) => e.subject)).toEqual([
      'beta: add user alice',
      'beta: add domain',
      'acme: add user alice',
      expect.any(String),
    ]);
    const alice = entries[2]!;
    expect(alice).toMatchObject({ author: 'Ann Admin', node: 'prod-1', commit: commitOf('acme: add user alice') });
    expect(alice.changes).toEqual([
      { kind: 'user.added', domain: 'acme', user: 'alice', text: 'acme: add user alice' },
    ]);
    expect(Number.isNaN(Date.parse(alice.time as string))).toBe(false);

    const beta = JSON.parse((await runCli(['log', '-c', fx.nodeFile, '--json', '--domain', 'beta'])).stdout) as {
      subject: string;
    }[];
    expect(beta.map((e) => e.subject)).toEqual(['beta: add user alice', 'beta: add domain']);
    const users = JSON.parse((await runCli(['log', '-c', fx.nodeFile, '--json', '--user', 'alice'])).stdout) as {
      subject: string;
    }[];
    expect(users.map((e) => e.subject)).toEqual(['beta: add user alice', 'acme: add user alice']);
    const one = JSON.parse((await runCli(['log', '-c', fx.nodeFile, '--json', '-n', '1'])).stdout) as unknown[];
    expect(one).toHaveLength(1);
    const future = JSON.parse(
      (await runCli(['log', '-c', fx.nodeFile, '--json', '--since', '2090-01-01'])).stdout,
    ) as unknown[];
    expect(future).toEqual([]);

    const text = await runCli(['log', '-c', fx.nodeFile, '--domain', 'acme']);
    expect(text.stdout).toMatch(/^[0-9a-f]{12} {2}\S+ {2}Ann Admin @ prod-1$/m);
    expect(text.stdout).toContain('- acme: add user alice');

    const bad = await runCli(['log', '-c', fx.nodeFile, '--since', 'someday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--since "someday": not a date/);
  });

  it('shows commits not pushed yet when the remote is unreachable', async () => {
    renameSync(fx.remote, `${fx.remote}.away`);
    fx.write('domains/acme/users/olga.yaml', userYaml('olga'));
    await rec();
    const r = await runCli(['log', '-c', fx.nodeFile, '--json', '-n', '1']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: cannot fetch/);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ subject: 'acme: add user olga', pushed: false });
  });
});

describe('revert', () => {
  it('undoes a user addition in the live dir and in the remote head, reloads the domain, and says what it undid', async () => {
    const marker = join(fx.dir, 'loaded.txt');
    fx.writeNode({
      commands: {
        load: [
          process.execPath,
          '-e',
          'require("fs").appendFileSync(process.argv[1], process.env.GITFAILOVER_DOMAIN + "\\n")',
          marker,
        ],
      },
    });
    fx.write('domains/acme/users/bob.yaml', userYaml('bob'));
    await rec();
    fx.write('domains/acme/users/zoe.yaml', userYaml('zoe'));
    await rec();
    const bob = commitOf('acme: add user bob');

    const r = await runCli(['revert', bob.slice(0, 10), '-c', fx.nodeFile, '--actor', 'ops']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('deleted domains/acme/users/bob.yaml');
    expect(existsSync(join(fx.live, 'domains/acme/users/bob.yaml'))).toBe(false);
    expect(existsSync(join(fx.live, 'domains/acme/users/zoe.yaml'))).toBe(true);
    expect(gitIn(fx.remote, ['ls-tree', '-r', '--name-only', 'main', 'domains/acme/users/'])).toBe(
      'domains/acme/users/zoe.yaml',
    );
    expect(remoteSubjects(fx.remote).at(-1)).toBe('Revert "acme: add user bob"');
    const body = gitIn(fx.remote, ['log', '-1', '--format=%b', 'main']);
    expect(body).toContain(`This reverts commit ${bob}.`);
    expect(body).toContain('- acme: remove user bob');
    expect(body).toMatch(/^Changed-By: ops$/m);
    expect(readFileSync(marker, 'utf8')).toBe('acme\n');

    // The private index follows the revert: the next record does not bring bob back.
    const again = await runCli(['record', '-c', fx.nodeFile]);
    expect(again.stdout.trim()).toBe('no change');
  });

  it('fails clearly on a conflict, pushes nothing and leaves the clone and the live dir as they were', async () => {
    fx.write('domains/acme/users/kim.yaml', userYaml('kim', '/home/a'));
    await rec();
    fx.write('domains/acme/users/kim.yaml', userYaml('kim', '/home/b'));
    await rec();
    fx.write('domains/acme/users/kim.yaml', userYaml('kim', '/home/c'));
    await rec();
    const middle = commitOf('acme: user kim home /home/a -> /home/b');
    const head = remoteHead(fx.remote);
    const clone = join(fx.state, 'repo.git');
    const refsBefore = gitIn(clone, ['for-each-ref']);

    const r = await runCli(['revert', middle, '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot revert ${middle.slice(0, 12)}`);
    expect(r.stderr).toContain('domains/acme/users/kim.yaml');
    expect(r.stderr).toContain('Nothing was changed or pushed');
    expect(remoteHead(fx.remote)).toBe(head);
    expect(gitIn(clone, ['for-each-ref'])).toBe(refsBefore);
    expect(readFileSync(join(fx.live, 'domains/acme/users/kim.yaml'), 'utf8')).toBe(userYaml('kim', '/home/c'));
    expect((await runCli(['record', '-c', fx.nodeFile])).stdout.trim()).toBe('no change');
  });

  it('refuses to overwrite a live edit that is not recorded yet', async () => {
    fx.write('domains/acme/users/lea.yaml', userYaml('lea'));
    await rec();
    const lea = commitOf('acme: add user lea');
    fx.write('domains/acme/users/lea.yaml', userYaml('lea', '/elsewhere'));
    const r = await runCli(['revert', lea, '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/changes to domains\/acme\/users\/lea\.yaml that are not recorded/);
    expect(readFileSync(join(fx.live, 'domains/acme/users/lea.yaml'), 'utf8')).toBe(userYaml('lea', '/elsewhere'));
  });

  it('names an unknown commit', async () => {
    const r = await runCli(['revert', 'deadbeef', '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/commit deadbeef is not in this node's clone/);
  });
});

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gitIn, makeFixture, remoteHead, runCli, userYaml, type PrimaryFixture } from '../helpers/primary.js';

/**
 * The repo is the source of truth on the primary too: commits pushed by others (a merged pull
 * request, a revert from a laptop) reach production's live dir through `record`/`sync`, and
 * nobody's change is silently undone. Real repos, the real CLI.
 */

let fx: PrimaryFixture;
let admin: string;

/** A third clone, as a person changing the configuration through git would have it. */
function adminGit(args: string[], env: NodeJS.ProcessEnv = {}): string {
  return execFileSync('git', ['-C', admin, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      LC_ALL: 'C',
      GIT_AUTHOR_NAME: 'Ada Admin',
      GIT_AUTHOR_EMAIL: 'ada@example.com',
      GIT_COMMITTER_NAME: 'Forge Merge',
      GIT_COMMITTER_EMAIL: 'noreply@forge.example',
      ...env,
    },
  }).trim();
}

function adminWrite(rel: string, text: string): void {
  execFileSync('mkdir', ['-p', join(admin, rel, '..')]);
  writeFileSync(join(admin, rel), text);
}

function adminPush(message: string): string {
  adminGit(['add', '-A']);
  adminGit(['commit', '--quiet', '-m', message]);
  adminGit(['push', '--quiet', 'origin', 'HEAD:main']);
  return adminGit(['rev-parse', 'HEAD']);
}

const live = (rel: string) => readFileSync(join(fx.live, rel), 'utf8');
/** A record.conflict trigger appending "branch files" to a file; returns the file. */
function conflictEvents(): string {
  const events = join(fx.dir, 'events.log');
  fx.writeNode({
    triggers: [
      {
        on: 'record.conflict',
        exec: ['/bin/sh', '-c', `printf '%s\\n' "$GITFAILOVER_BRANCH $GITFAILOVER_FILES" >> ${events}`],
      },
    ],
  });
  return events;
}
const atRemote = (rel: string) => `${gitIn(fx.remote, ['show', `main:${rel}`])}\n`;

beforeEach(async () => {
  fx = makeFixture();
  fx.write('domains/acme/users/alice.yaml', 'name: alice\nhome: /home/alice\npermissions: [read, write]\nquota: 10\n');
  const first = await runCli(['record', '-c', fx.nodeFile]);
  expect(first.code, first.stderr).toBe(0);
  admin = join(fx.dir, 'admin');
  execFileSync('git', ['clone', '--quiet', fx.remote, admin]);
});
afterEach(() => fx.cleanup());

describe('the primary takes in commits it did not make', { timeout: 120_000 }, () => {
  it('applies a pushed commit to the live dir, and its next live edit (another file) keeps it', async () => {
    adminWrite('domains/acme/users/bob.yaml', userYaml('bob'));
    const pr = adminPush('PR: add bob');
    fx.write('domains/acme/users/carol.yaml', userYaml('carol'));
    fx.write('domains/acme/session.log', 'user data, never recorded\n'); // live.exclude: **/*.log

    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/applied 1 commit\(s\) from main/);
    expect(r.stdout).toContain('PR: add bob (Ada Admin)');
    expect(live('domains/acme/users/bob.yaml')).toBe(userYaml('bob'));
    expect(live('domains/acme/users/carol.yaml')).toBe(userYaml('carol'));
    expect(live('domains/acme/session.log')).toBe('user data, never recorded\n'); // the reload of acme kept it
    // The remote head holds both; the live edit sits on top of the merged commit, which is untouched.
    expect(atRemote('domains/acme/users/bob.yaml')).toBe(userYaml('bob'));
    expect(atRemote('domains/acme/users/carol.yaml')).toBe(userYaml('carol'));
    expect(gitIn(fx.remote, ['rev-parse', 'main^'])).toBe(pr);
    expect(gitIn(fx.remote, ['log', '-1', '--format=%s%n%(trailers:key=Changed-By,key=Node)', 'main'])).toMatch(
      /acme: add user carol[\s\S]*Node: prod-1/,
    );

    // A later record changes nothing: the live dir and the repo agree.
    const again = await runCli(['record', '-c', fx.nodeFile]);
    expect(again.stdout).toContain('no change');

    // The audit trail credits the person, with the committer the forge used.
    const log = JSON.parse((await runCli(['log', '-c', fx.nodeFile, '--json'])).stdout) as {
      commit: string;
      author: string;
      committer?: string;
    }[];
    const merged = log.find((e) => e.commit === pr)!;
    expect(merged.author).toBe('Ada Admin');
    expect(merged.committer).toBe('Forge Merge');
  });

  it("a pushed commit that carries files the primary excludes never overwrites production's own", async () => {
    fx.write('domains/acme/session.log', 'production data\n'); // live.exclude: **/*.log
    adminWrite('domains/acme/session.log', 'from a pull request\n');
    adminWrite('domains/acme/users/bob.yaml', userYaml('bob'));
    adminPush('PR: bob, and a log file by mistake');
    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(live('domains/acme/users/bob.yaml')).toBe(userYaml('bob'));
    expect(live('domains/acme/session.log')).toBe('production data\n');
  });

  it('merges a live edit and an incoming commit to different lines of one file', async () => {
    adminWrite(
      'domains/acme/users/alice.yaml',
      'name: alice\nhome: /data/pr-changed\npermissions: [read, write]\nquota: 10\n',
    );
    adminPush('PR: change home');
    fx.write(
      'domains/acme/users/alice.yaml',
      'name: alice\nhome: /home/alice\npermissions: [read, write]\nquota: 20\n',
    );

    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code, r.stderr).toBe(0);
    const both = 'name: alice\nhome: /data/pr-changed\npermissions: [read, write]\nquota: 20\n';
    expect(live('domains/acme/users/alice.yaml')).toBe(both);
    expect(atRemote('domains/acme/users/alice.yaml')).toBe(both);
  });

  it('keeps a conflicting live edit on a conflict branch, applies the repo version, and exits 1', async () => {
    const events = conflictEvents();
    adminWrite(
      'domains/acme/users/alice.yaml',
      'name: alice\nhome: /data/from-pr\npermissions: [read, write]\nquota: 10\n',
    );
    const pr = adminPush('PR: move alice');
    fx.write(
      'domains/acme/users/alice.yaml',
      'name: alice\nhome: /data/from-live\npermissions: [read, write]\nquota: 10\n',
    );
    fx.write('domains/acme/users/dave.yaml', userYaml('dave')); // not in conflict: kept and recorded

    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    const branch = /on branch (gitfailover\/conflict\/prod-1-\S+) \(commit/.exec(r.stderr)?.[1];
    expect(branch, r.stderr).toBeDefined();
    expect(r.stderr).toContain('domains/acme/users/alice.yaml');
    expect(r.stderr).toContain(pr.slice(0, 12));
    // The repo's version is live and at the remote head; the live edit is on the branch in the remote.
    expect(live('domains/acme/users/alice.yaml')).toContain('/data/from-pr');
    expect(atRemote('domains/acme/users/alice.yaml')).toContain('/data/from-pr');
    expect(gitIn(fx.remote, ['show', `${branch}:domains/acme/users/alice.yaml`])).toContain('/data/from-live');
    expect(atRemote('domains/acme/users/dave.yaml')).toBe(userYaml('dave'));
    expect(live('domains/acme/users/dave.yaml')).toBe(userYaml('dave'));
    expect(readFileSync(events, 'utf8')).toContain(`${branch} domains/acme/users/alice.yaml`);

    const status = await runCli(['status', '-c', fx.nodeFile]);
    expect(status.stdout).toContain(branch!);
    const log = await runCli(['log', '-c', fx.nodeFile]);
    expect(log.stdout).toContain(branch!);

    // Resolved as the message says: the branch merged into main (the live edit kept), branch left
    // in place. The next record takes the merge in and the conflict leaves status, log and the page.
    adminGit(['pull', '--quiet', 'origin', 'main']);
    adminGit(['fetch', '--quiet', 'origin', branch!]);
    adminGit(['merge', '--quiet', '-X', 'theirs', '-m', 'merge the live edit', 'FETCH_HEAD']);
    adminGit(['push', '--quiet', 'origin', 'HEAD:main']);
    const after = await runCli(['record', '-c', fx.nodeFile]);
    expect(after.code, after.stderr).toBe(0);
    expect(live('domains/acme/users/alice.yaml')).toContain('/data/from-live');
    expect((await runCli(['status', '-c', fx.nodeFile])).stdout).not.toContain('conflict:');
    expect(JSON.parse((await runCli(['status', '-c', fx.nodeFile, '--json'])).stdout).conflicts).toEqual([]);
    expect((await runCli(['log', '-c', fx.nodeFile])).stdout).not.toContain(`kept on ${branch}`);
  });

  it('a conflict branch deleted from the remote (the live edit dropped) clears the conflict at the next record', async () => {
    adminWrite('domains/acme/users/alice.yaml', 'name: alice\nhome: /data/from-pr\npermissions: [read]\nquota: 10\n');
    adminPush('PR: move alice');
    fx.write('domains/acme/users/alice.yaml', 'name: alice\nhome: /data/from-live\npermissions: [read]\nquota: 10\n');
    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    const branch = /on branch (gitfailover\/conflict\/prod-1-\S+) \(commit/.exec(r.stderr)![1]!;
    expect((await runCli(['status', '-c', fx.nodeFile])).stdout).toContain(branch);
    // Another record while the branch is still there keeps the conflict.
    expect((await runCli(['record', '-c', fx.nodeFile])).code).toBe(0);
    expect((await runCli(['status', '-c', fx.nodeFile])).stdout).toContain(branch);
    adminGit(['push', '--quiet', 'origin', '--delete', branch]);
    expect((await runCli(['record', '-c', fx.nodeFile])).code).toBe(0);
    const status = await runCli(['status', '-c', fx.nodeFile, '--json']);
    expect(JSON.parse(status.stdout).conflicts).toEqual([]);
  });

  it("a domain deleted in the repo stays deleted: production's unrecorded file under it goes to a conflict branch", async () => {
    const events = conflictEvents();
    fx.write('domains/other/users/olga.yaml', userYaml('olga'));
    expect((await runCli(['record', '-c', fx.nodeFile])).code).toBe(0);
    adminGit(['pull', '--quiet', 'origin', 'main']);
    adminGit(['rm', '-r', '--quiet', 'domains/acme']);
    const pr = adminPush('PR: retire acme');
    fx.write('domains/acme/users/bob.yaml', userYaml('bob')); // production, before its next record

    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code).toBe(1);
    const branch = /on branch (gitfailover\/conflict\/prod-1-\S+) \(commit/.exec(r.stderr)?.[1];
    expect(branch, r.stderr).toBeDefined();
    expect(r.stderr).toContain('domains/acme/users/bob.yaml (added here, domain acme deleted in the repo)');
    expect(r.stderr).toContain(pr.slice(0, 12));
    // The repo's deletion holds at the remote head and in the live dir; bob is kept on the branch.
    expect(gitIn(fx.remote, ['ls-tree', '-r', '--name-only', 'main', 'domains/acme'])).toBe('');
    expect(existsSync(join(fx.live, 'domains/acme'))).toBe(false);
    expect(live('domains/other/users/olga.yaml')).toBe(userYaml('olga'));
    expect(gitIn(fx.remote, ['show', `${branch}:domains/acme/users/bob.yaml`])).toBe(userYaml('bob').trimEnd());
    expect(readFileSync(events, 'utf8')).toContain(`${branch} domains/acme/users/bob.yaml`);
    // And it stays deleted: the next record changes nothing.
    expect((await runCli(['record', '-c', fx.nodeFile])).stdout).toContain('no change');
    expect(gitIn(fx.remote, ['ls-tree', '-r', '--name-only', 'main', 'domains/acme'])).toBe('');
  });

  it('a push racing the primary ends with both changes in the remote and the live dir, nothing forced', async () => {
    // The racer's commit is in the remote already, on its own branch; the remote's pre-receive hook
    // moves main to it once, while the primary's push is under way (as a push from another clone would).
    adminWrite('domains/acme/users/racer.yaml', userYaml('racer'));
    adminGit(['add', '-A']);
    adminGit(['commit', '--quiet', '-m', 'racer: add user']);
    adminGit(['push', '--quiet', 'origin', 'HEAD:refs/heads/racer']);
    const racer = adminGit(['rev-parse', 'HEAD']);
    const marker = join(fx.dir, 'race-once');
    writeFileSync(marker, '');
    const hook = join(fx.remote, 'hooks', 'pre-receive');
    writeFileSync(
      hook,
      `#!/bin/sh\nif [ -f '${marker}' ]; then rm -f '${marker}'; env -u GIT_QUARANTINE_PATH git update-ref refs/heads/main ${racer}; fi\nexit 0\n`,
    );
    chmodSync(hook, 0o755);

    fx.write('domains/acme/users/erin.yaml', userYaml('erin'));
    const r = await runCli(['record', '-c', fx.nodeFile]);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(existsSync(marker)).toBe(false); // the race happened
    const head = remoteHead(fx.remote)!;
    expect(gitIn(fx.remote, ['merge-base', '--is-ancestor', racer, head])).toBe(''); // the racer's commit is kept, not overwritten
    expect(atRemote('domains/acme/users/erin.yaml')).toBe(userYaml('erin'));
    expect(atRemote('domains/acme/users/racer.yaml')).toBe(userYaml('racer'));
    expect(live('domains/acme/users/racer.yaml')).toBe(userYaml('racer'));
    expect(live('domains/acme/users/erin.yaml')).toBe(userYaml('erin'));
  });

  it('a git revert of an "add user" commit pushed from a clone removes the user from the live dir; log shows its author', async () => {
    fx.write('domains/acme/users/frank.yaml', userYaml('frank'));
    expect((await runCli(['record', '-c', fx.nodeFile])).code).toBe(0);
    adminGit(['pull', '--quiet', 'origin', 'main']);
    adminGit(['revert', '--no-edit', 'HEAD']);
    adminGit(['push', '--quiet', 'origin', 'HEAD:main']);
    const revertCommit = adminGit(['rev-parse', 'HEAD']);

    const dry = await runCli(['sync', '-c', fx.nodeFile, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('would apply 1 commit(s)');
    expect(dry.stdout).toContain('-name: frank');
    expect(existsSync(join(fx.live, 'domains/acme/users/frank.yaml'))).toBe(true); // a dry run changes nothing

    const r = await runCli(['sync', '-c', fx.nodeFile]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(fx.live, 'domains/acme/users/frank.yaml'))).toBe(false);
    const log = JSON.parse((await runCli(['log', '-c', fx.nodeFile, '--json'])).stdout) as {
      commit: string;
      author: string;
      subject: string;
    }[];
    expect(log[0]).toMatchObject({ commit: revertCommit, author: 'Ada Admin' });
    expect(remoteHead(fx.remote)).toBe(revertCommit); // nothing recorded over it
  });

  it('without --actor, under sudo, SUDO_USER is the actor', async () => {
    fx.write('domains/acme/users/gina.yaml', userYaml('gina'));
    expect((await runCli(['record', '-c', fx.nodeFile], { SUDO_USER: 'olivia' })).code).toBe(0);
    expect(gitIn(fx.remote, ['log', '-1', '--format=%an|%(trailers:key=Changed-By,valueonly)', 'main'])).toBe(
      'olivia|olivia',
    );
  });
});

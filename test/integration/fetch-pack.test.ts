import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GitfailoverError } from '../../src/errors.js';
import { NodeRepo } from '../../src/repo/node-repo.js';
import { cli, cliOk, git, removeDir, snapshot, tempDir, usePairs, writeDomain, writeUser } from '../helpers/fixture.js';

/**
 * NodeRepo.fetch on remotes git fetch-pack reaches itself (here a path and file://): the head,
 * the tracking ref and its reflog, a branch the remote lacks, and a remote that is not there.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

async function remoteWithCommit(): Promise<{
  dir: string;
  remote: string;
  work: string;
  commit: (msg: string) => Promise<string>;
}> {
  const dir = tempDir('gf-fetch-');
  dirs.push(dir);
  const remote = join(dir, 'remote.git');
  const work = join(dir, 'work');
  await git(['init', '-q', '--bare', '--initial-branch=main', remote]);
  await git(['init', '-q', '--initial-branch=main', work]);
  const commit = async (msg: string) => {
    await git(['-C', work, 'commit', '-q', '--allow-empty', '-m', msg]);
    await git(['-C', work, 'push', '-q', remote, 'HEAD:refs/heads/main']);
    return (await git(['-C', work, 'rev-parse', 'HEAD'])).trim();
  };
  return { dir, remote, work, commit };
}

function nodeRepo(dir: string, remote: string, branch = 'main'): NodeRepo {
  return new NodeRepo({ remote, branch, stateDir: join(dir, 'state') });
}

/** A remote with one commit and a node clone that has fetched it; the clone is closed after `fn`. */
async function withFetchedClone(
  fn: (r: Awaited<ReturnType<typeof remoteWithCommit>>, repo: NodeRepo) => Promise<void>,
): Promise<void> {
  const r = await remoteWithCommit();
  await r.commit('one');
  const repo = nodeRepo(r.dir, r.remote);
  try {
    await repo.ensure();
    await repo.fetch();
    await fn(r, repo);
  } finally {
    repo.close();
  }
}

async function reflog(repo: NodeRepo): Promise<string[]> {
  const r = await repo.git(['reflog', 'show', '--format=%H', repo.trackingRef], { okCodes: [128] });
  return r.stdout.split('\n').filter(Boolean);
}

describe('NodeRepo.fetch through git fetch-pack', () => {
  it('fetches a path remote: returns the head, moves the tracking ref with a reflog entry, and adds none when nothing changed', async () => {
    const r = await remoteWithCommit();
    const first = await r.commit('one');
    const repo = nodeRepo(r.dir, r.remote);
    try {
      await repo.ensure();
      expect(await repo.fetch()).toBe(first);
      expect(await repo.resolve(repo.trackingRef)).toBe(first);
      expect(await repo.fetch()).toBe(first);
      expect(await reflog(repo)).toEqual([first]);

      const second = await r.commit('two');
      expect(await repo.fetch()).toBe(second);
      expect(await reflog(repo)).toEqual([second, first]);
      // every object of the new commit is there (what the skipped connectivity check proved)
      await repo.git(['fsck', '--connectivity-only', '--no-dangling', second]);
    } finally {
      repo.close();
    }
  });

  it('fetches a file:// remote the same way', async () => {
    const r = await remoteWithCommit();
    const head = await r.commit('one');
    const repo = nodeRepo(r.dir, `file://${r.remote}`);
    try {
      await repo.ensure();
      expect(await repo.fetch()).toBe(head);
      expect(await repo.resolve(repo.trackingRef)).toBe(head);
    } finally {
      repo.close();
    }
  });

  it('a branch the remote does not have (any more) is undefined and deletes the tracking ref', async () => {
    const r = await remoteWithCommit();
    const head = await r.commit('one');
    const repo = nodeRepo(r.dir, r.remote);
    try {
      await repo.ensure();
      expect(await repo.fetch()).toBe(head);
      await git(['--git-dir', r.remote, 'branch', '-m', 'main', 'other']);
      expect(await repo.fetch()).toBeUndefined();
      expect(await repo.resolve(repo.trackingRef)).toBeUndefined();
    } finally {
      repo.close();
    }
  });

  it('an empty remote (no branch at all) is undefined, not an error', async () => {
    const r = await remoteWithCommit();
    const repo = nodeRepo(r.dir, r.remote);
    try {
      await repo.ensure();
      expect(await repo.fetch()).toBeUndefined();
    } finally {
      repo.close();
    }
  });

  it('a remote that is not there is E_REMOTE (waiting: retried), naming the remote', async () => {
    const r = await remoteWithCommit();
    const missing = join(r.dir, 'no-such.git');
    const repo = nodeRepo(r.dir, missing);
    try {
      await repo.ensure();
      const err = await repo.fetch().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GitfailoverError);
      expect((err as GitfailoverError).code).toBe('E_REMOTE');
      expect((err as GitfailoverError).kind).toBe('waiting');
      expect((err as GitfailoverError).message).toContain(missing);
    } finally {
      repo.close();
    }
  });
});

const pair = usePairs();

describe('a blob missing from the node clone', () => {
  it('refuses the sync (E_MISSING_OBJECT, naming the file and commit) instead of writing an empty file; nothing is applied', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme', {
      services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }],
      users: ['alice'],
    });
    await cliOk(['record', '-c', p.primary]);
    await cliOk(['sync', '-c', p.standby]);
    const applied = JSON.parse(readFileSync(join(p.dir, 'fail-state', 'state.json'), 'utf8')).appliedCommit as string;
    const liveBefore = snapshot(p.failLive);

    writeUser(p.prodLive, 'acme', 'bob', { home: '/data/bob-missing-blob-test' });
    await cliOk(['record', '-c', p.primary]);
    // status fetches: the new commit's objects arrive loose (a pack this small is unpacked)
    await cliOk(['status', '-c', p.standby]);
    const gitDir = join(p.dir, 'fail-state', 'repo.git');
    const target = (await git(['--git-dir', gitDir, 'rev-parse', 'refs/remotes/origin/main'])).trim();
    const oid = (await git(['--git-dir', gitDir, 'rev-parse', `${target}:domains/acme/users/bob.yaml`])).trim();
    const loose = join(gitDir, 'objects', oid.slice(0, 2), oid.slice(2));
    expect(existsSync(loose)).toBe(true);
    rmSync(loose);

    const r = await cli(['sync', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('domains/acme/users/bob.yaml');
    expect(r.stderr).toContain(target.slice(0, 12));
    expect(r.stderr).toContain('Nothing was applied');
    const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout);
    expect(status.lastSync.errorCode).toBe('E_MISSING_OBJECT');
    expect(status.appliedCommit).toBe(applied);
    expect(snapshot(p.failLive)).toEqual(liveBefore);
    expect(existsSync(join(p.failLive, 'domains/acme/users/bob.yaml'))).toBe(false);
  });
});

describe('NodeRepo.fetch and loose objects', () => {
  it("runs git's auto maintenance when a fetch leaves more loose objects than gc.auto allows", async () => {
    await withFetchedClone(async (r, repo) => {
      // gc --auto estimates the loose objects from objects/17: a commit of 40 files whose blob
      // ids start with 17 arrives loose (fetch-pack unpacks fewer than 100 objects) and is over
      // the estimate's threshold (6,700 / 256).
      const ids: string[] = [];
      for (let i = 0; ids.length < 40; i++) {
        const content = `loose ${i}\n`;
        const id = createHash('sha1')
          .update(`blob ${Buffer.byteLength(content)}\0${content}`)
          .digest('hex');
        if (!id.startsWith('17')) continue;
        ids.push(id);
        writeFileSync(join(r.work, `f${i}`), content);
      }
      await git(['-C', r.work, 'add', '-A']);
      const head = await r.commit('forty loose objects');
      expect(await repo.fetch()).toBe(head);
      const dir17 = join(repo.gitDir, 'objects', '17');
      const loose = existsSync(dir17) ? readdirSync(dir17).length : 0;
      expect(loose).toBeLessThanOrEqual(Math.ceil(6700 / 256));
      // Packed, not lost: every blob is still in the clone.
      const check = await repo.git(['cat-file', '--batch-check'], { input: `${ids.join('\n')}\n` });
      expect(check.stdout).not.toMatch(/missing/);
      expect(readdirSync(join(repo.gitDir, 'objects', 'pack')).some((f) => f.endsWith('.pack'))).toBe(true);
    });
  });
});

describe('NodeRepo.fetch and loose object compression', () => {
  it('writes the loose objects of a small fetch stored, not deflated (cheaper to write and to read back)', async () => {
    await withFetchedClone(async (r, repo) => {
      writeFileSync(join(r.work, 'big.txt'), 'a'.repeat(10_000)); // deflates to a few dozen bytes
      await git(['-C', r.work, 'add', '-A']);
      const head = await r.commit('one repetitive file');
      expect(await repo.fetch()).toBe(head);
      const oid = (await repo.git(['rev-parse', `${head}:big.txt`])).stdout.trim();
      const loose = join(repo.gitDir, 'objects', oid.slice(0, 2), oid.slice(2));
      expect(existsSync(loose)).toBe(true);
      expect(statSync(loose).size).toBeGreaterThan(10_000);
      expect((await repo.git(['cat-file', 'blob', oid])).stdout).toBe('a'.repeat(10_000));
    });
  });
});

describe('NodeRepo.fetch and kept packs', () => {
  it('a fetch of 100 objects or more is stored as a pack without the .keep file fetch-pack guards it with', async () => {
    await withFetchedClone(async (r, repo) => {
      // 150 new files: above fetch.unpackLimit (100), so fetch-pack keeps what it received as a pack
      for (let i = 0; i < 150; i++) writeFileSync(join(r.work, `f${i}.txt`), `${i}\n`);
      await git(['-C', r.work, 'add', '-A']);
      const head = await r.commit('150 files');
      expect(await repo.fetch()).toBe(head);
      const packDir = join(repo.gitDir, 'objects', 'pack');
      const names = readdirSync(packDir);
      expect(names.filter((n) => n.endsWith('.pack')).length).toBeGreaterThan(0);
      expect(names.filter((n) => n.endsWith('.keep'))).toEqual([]);
      await repo.git(['fsck', '--connectivity-only', '--no-dangling', head]);
    });
  });

  it('clearStaleLocks removes a .keep a killed fetch-pack left, and keeps one a person made', async () => {
    await withFetchedClone(async (_r, repo) => {
      const packDir = join(repo.gitDir, 'objects', 'pack');
      const ours = join(packDir, 'pack-1111111111111111111111111111111111111111.keep');
      const theirs = join(packDir, 'pack-2222222222222222222222222222222222222222.keep');
      writeFileSync(ours, 'fetch-pack 12345 on standby\n');
      writeFileSync(theirs, 'kept by hand: do not repack\n');
      const old = new Date(Date.now() - 60_000);
      utimesSync(ours, old, old);
      utimesSync(theirs, old, old);
      expect(await repo.clearStaleLocks()).toEqual([ours]);
      expect(existsSync(ours)).toBe(false);
      expect(existsSync(theirs)).toBe(true);
    });
  });
});

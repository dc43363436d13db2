import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTrees, rootTree } from '../../src/repo/tree-walk.js';
import { EMPTY_TREE, NodeRepo, parseRawDiff } from '../../src/repo/node-repo.js';
import { git, removeDir, tempDir } from '../helpers/fixture.js';

/**
 * The reads a record and a partial sync make through the kept-open `cat-file --batch-command`
 * instead of a process each give what the git commands they replace give, on a real repo:
 * `lsPaths` against `ls-tree -r -l`, `commitsSince` against `log`, `resolveRef` against
 * `rev-parse`, and `isAncestor` against `merge-base --is-ancestor`.
 */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

async function repoWithTree(): Promise<{ work: string; commits: string[] }> {
  const dir = tempDir('gf-reads-');
  dirs.push(dir);
  const work = join(dir, 'work');
  await git(['init', '-q', '--initial-branch=main', work]);
  const write = (rel: string, text: string) => {
    mkdirSync(join(work, rel, '..'), { recursive: true });
    writeFileSync(join(work, rel), text);
  };
  write('server.yaml', 'a: 1\n');
  write('domains/acme/domain.yaml', 'name: acme\n');
  write('domains/acme/users/bob.yaml', 'name: bob\n'.repeat(50));
  write('domains/acme/users/deep/x y.yaml', 'odd name\n');
  write('domains/acme-2/domain.yaml', 'name: acme-2\n');
  write('domains/zeta/run.sh', '#!/bin/sh\n');
  chmodSync(join(work, 'domains/zeta/run.sh'), 0o755);
  symlinkSync('../acme/domain.yaml', join(work, 'domains/zeta/link.yaml'));
  await git(['-C', work, 'add', '-A']);
  // A submodule entry (mode 160000), as a hostile commit could hold one.
  await git(['-C', work, 'update-index', '--add', '--cacheinfo', `160000,${'1'.repeat(40)},domains/zeta/sub`]);
  const commit = async (msg: string) => {
    // The message verbatim (cleanup off): a subject over two lines, trailing blanks, an indented body line.
    execFileSync(
      'git',
      ['-C', work, '-c', 'user.name=T Q', '-c', 'user.email=t@q', 'commit', '-q', '--cleanup=verbatim', '-F', '-'],
      {
        input: msg,
      },
    );
    return (await git(['-C', work, 'rev-parse', 'HEAD'])).trim();
  };
  const c1 = await commit('first\n');
  write('domains/acme/users/bob.yaml', 'name: bob\nhome: /x\n');
  await git(['-C', work, 'add', '-A']);
  const c2 = await commit('acme: user bob\nchanged home  \n\nwhy it changed\n\n  indented\n');
  const c3 = execFileSync('git', ['-C', work, 'commit-tree', `${c2}^{tree}`, '-p', c1, '-p', c2, '-m', 'merge'], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'M',
      GIT_AUTHOR_EMAIL: 'm@x',
      GIT_COMMITTER_NAME: 'M',
      GIT_COMMITTER_EMAIL: 'm@x',
    },
  }).toString();
  await git(['-C', work, 'update-ref', 'refs/heads/merged', c3.trim()]);
  return { work, commits: [c1, c2, c3.trim()] };
}

describe('reads through the kept-open cat-file', () => {
  it('lsPaths lists what ls-tree -r -l lists for the same paths; commitsSince, resolveRef and isAncestor agree with git', async () => {
    const { work, commits } = await repoWithTree();
    // The node's clone of the work repo: the same objects, read the two ways.
    const dir = tempDir('gf-reads-clone-');
    dirs.push(dir);
    await git(['clone', '-q', '--bare', work, join(dir, 'repo.git')]);
    await git(['--git-dir', join(dir, 'repo.git'), 'fetch', '-q', work, '+refs/heads/*:refs/heads/*']);
    const repo = new NodeRepo({ remote: work, branch: 'main', stateDir: dir });
    try {
      const [c1, c2, c3] = commits as [string, string, string];
      const sets = [
        ['domains/acme'],
        ['domains/acme', 'domains/zeta', 'server.yaml'],
        ['domains/acme-2', 'domains/acme/users/bob.yaml', 'domains/missing', 'nope.yaml'],
        ['domains/zeta/sub', 'domains/zeta/link.yaml', 'domains/zeta/run.sh'],
        ['domains/acme/users/deep'],
        // Overlapping paths (a journal's globals and its domains): each file once, as ls-tree lists it.
        ['domains', 'domains/acme', 'domains/acme/users/bob.yaml', 'domains/acme'],
      ];
      for (const rev of [c1, c2, `${c2}^{tree}`]) {
        const tree = rev.endsWith('^{tree}')
          ? (await git(['--git-dir', join(dir, 'repo.git'), 'rev-parse', rev])).trim()
          : rev;
        for (const paths of sets) {
          const byPath = (xs: { path: string }[]) => [...xs].sort((a, b) => a.path.localeCompare(b.path));
          const viaCatFile = await repo.lsPaths(tree, paths);
          expect(viaCatFile.length, paths.join(' ')).toBeGreaterThan(0);
          expect(byPath(viaCatFile), `${rev} ${paths.join(' ')}`).toEqual(byPath(await repo.lsTree(tree, paths)));
        }
        // A full sync's listing: the top with the domains folder kept, then each domain's tree by
        // its id; together, exactly what ls-tree -r -l lists, in the same order.
        const root = await rootTree(repo.blobs, tree);
        const top = await listTrees(repo.blobs, [{ path: '', oid: root! }], rev, 'domains');
        const kept = top.filter((e) => e.type === 'tree');
        expect(kept.map((e) => e.path)).toContain('domains/acme');
        const joined = [];
        for (const e of top) joined.push(...(e.type === 'tree' ? await listTrees(repo.blobs, [e], rev) : [e]));
        expect(joined).toEqual(await repo.lsTree(tree));
      }

      // One commit on top: from the commit object; the same fields git log prints.
      expect(await repo.commitsSince(c1, c2, 50)).toEqual(await repo.log(`${c1}..${c2}`, [], 50));
      expect((await repo.commitsSince(c1, c2, 50))[0]!.subject).toBe('acme: user bob changed home');
      // Not one commit on top (two parents): git log answers.
      expect(await repo.commitsSince(c1, c3, 50)).toEqual(await repo.log(`${c1}..${c3}`, [], 50));
      expect(await repo.commitsSince(c1, c3, 50)).toHaveLength(2);

      expect(await repo.resolveRef('refs/heads/main')).toBe(c2);
      expect(await repo.resolveRef('refs/heads/none')).toBeUndefined();
      expect(await repo.isAncestor(c1, c2)).toBe(true);
      expect(await repo.isAncestor(c2, c3)).toBe(true);
      expect(await repo.isAncestor(c2, c1)).toBe(false);
      expect(await repo.isAncestor(c3, c2)).toBe(false);
    } finally {
      repo.close();
    }
  });

  it('diff walks the trees in Node and gives what git diff-tree -r --no-renames gives: add, delete, modify, mode and type changes, file <-> folder, nested, odd names, pathspecs', async () => {
    const dir = tempDir('gf-diff-');
    dirs.push(dir);
    const work = join(dir, 'work');
    await git(['init', '-q', '--initial-branch=main', work]);
    const write = (rel: string, text: string) => {
      mkdirSync(join(work, rel, '..'), { recursive: true });
      writeFileSync(join(work, rel), text);
    };
    const snap = async () => {
      await git(['-C', work, 'add', '-A']);
      return (await git(['-C', work, 'write-tree'])).trim();
    };
    // Names that sort around '/' ('a.b' < 'a/' < 'a0'), spaces, non-ASCII, a deep path.
    write('a.b', '1\n');
    write('a/x.yaml', 'x\n');
    write('a0', '0\n');
    write('domains/acme/users/bob.yaml', 'bob\n');
    write('domains/acme/users/deep/er/x y.yaml', 'deep\n');
    write('domains/acme/domain.yaml', 'acme\n');
    write('domains/zeta/run.sh', '#!/bin/sh\n');
    write('domains/zeta/été.yaml', 'e\n');
    write('domains/zeta/f', 'file that becomes a folder\n');
    symlinkSync('run.sh', join(work, 'domains/zeta/link'));
    write('server.yaml', 's\n');
    const t1 = await snap();
    write('domains/acme/users/bob.yaml', 'bob changed\n'); // modify
    rmSync(join(work, 'domains/acme/users/deep'), { recursive: true }); // a nested folder deleted
    write('domains/new/domain.yaml', 'new\n'); // a folder added
    chmodSync(join(work, 'domains/zeta/run.sh'), 0o755); // mode change
    rmSync(join(work, 'domains/zeta/link'));
    write('domains/zeta/link', 'a file where a symlink was\n'); // type change
    rmSync(join(work, 'domains/zeta/f'));
    write('domains/zeta/f/inner.yaml', 'now a folder\n'); // file -> folder
    rmSync(join(work, 'a'), { recursive: true });
    write('a', 'folder -> file\n'); // folder -> file
    write('domains/zeta/été.yaml', 'e2\n');
    const t2 = await snap();
    write('server.yaml', 's2\n');
    write('domains/acme/secrets/key.pem.age', 'ciphertext\n');
    write('domains/acme/secrets/été.txt.age', 'ciphertext 2\n');
    write('x.agent', 'not one\n');
    const t3 = await snap();
    const bare = join(dir, 'repo.git');
    await git(['init', '-q', '--bare', bare]);
    // The trees are not in any commit: the clone borrows the work repo's objects.
    writeFileSync(join(bare, 'objects/info/alternates'), `${join(work, '.git/objects')}\n`);
    const repo = new NodeRepo({ remote: work, branch: 'main', stateDir: dir });
    try {
      const viaGit = async (from: string, to: string, paths: string[] = []) =>
        parseRawDiff(
          (await repo.git(['diff-tree', '-r', '-z', '--raw', '--no-renames', from, to, '--', ...paths])).stdout,
        );
      const pairs: [string, string][] = [
        [t1, t2],
        [t2, t1],
        [t2, t3],
        [t1, t3],
        [t1, t1],
        [EMPTY_TREE, t2],
        [t2, EMPTY_TREE],
      ];
      const specs = [[], ['domains/zeta'], ['domains/acme/users', 'server.yaml'], ['a'], ['nope']];
      let seen = 0;
      for (const [from, to] of pairs) {
        for (const paths of specs) {
          const expected = await viaGit(from, to, paths);
          seen += expected.length;
          expect(await repo.diff(from, to, paths), `${from}..${to} -- ${paths.join(' ')}`).toEqual(expected);
        }
      }
      // The work repo's index read in Node: the same entries and count as ls-files.
      const index = repo.index(join(work, '.git', 'index'));
      const ages = await index.stagedEndingWith('.age');
      expect(ages.map((e) => e.path)).toEqual(['domains/acme/secrets/key.pem.age', 'domains/acme/secrets/été.txt.age']);
      expect(ages).toEqual(await index.staged([':(top,glob)**/*.age']));
      expect(await index.count()).toBe((await index.paths()).length);

      const statuses = new Set((await viaGit(t1, t2)).map((d) => d.status));
      // The cases above were all there to compare (the test would prove little otherwise).
      expect([...statuses].sort()).toEqual(['A', 'D', 'M', 'T']);
      expect(seen).toBeGreaterThan(20);
      // The commit object written in-process: the same bytes (so the same id) as git commit-tree
      // at the same second, a message kept verbatim, and a clone git fsck finds sound.
      const message = 'beta: user u2\n\nwhy  \n\n  indented\n\nGitfailover-Node: prod-1\n';
      const author = { name: 'Ann Op', email: 'ann@example.com' };
      const committer = { name: 'gitfailover (prod-1)', email: 'gitfailover@prod-1' };
      const first = await repo.commitTree({ tree: t1, parents: [], message: 'first\n', author, committer });
      const c = await repo.commitTree({ tree: t2, parents: [first], message, author, committer });
      const raw = (await repo.git(['cat-file', 'commit', c])).stdout;
      const when = /^committer .*> (\d+ [+-]\d{4})$/m.exec(raw)![1]!;
      const viaCommitTree = (
        await repo.git(['commit-tree', t2, '-p', first, '-F', '-'], {
          input: message,
          env: {
            GIT_AUTHOR_NAME: author.name,
            GIT_AUTHOR_EMAIL: author.email,
            GIT_COMMITTER_NAME: committer.name,
            GIT_COMMITTER_EMAIL: committer.email,
            GIT_AUTHOR_DATE: `@${when}`,
            GIT_COMMITTER_DATE: `@${when}`,
          },
        })
      ).stdout.trim();
      expect(c).toBe(viaCommitTree);
      expect(raw.endsWith(`\n\n${message}`)).toBe(true);
      await repo.updateRef('refs/heads/main', c, '');
      await repo.git(['fsck', '--strict', '--no-dangling']);
      expect((await repo.commitsSince(first, c, 5))[0]).toMatchObject({ author: 'Ann Op', subject: 'beta: user u2' });
      // An identity git would trim is left to git: the commit is still written, as git writes it.
      const odd = await repo.commitTree({
        tree: t3,
        parents: [c],
        message: 'm\n',
        author: { name: ' Odd.', email: 'o@x' },
        committer,
      });
      expect((await repo.git(['cat-file', 'commit', odd])).stdout).toMatch(/^author Odd <o@x> /m);
      // A crafted tree (an entry listed twice): git answers, not the walk.
      const blob = (await repo.git(['hash-object', '-w', '--stdin'], { input: 'x\n' })).stdout.trim();
      const twice = (
        await repo.git(['mktree'], { input: `100644 blob ${blob}\tdup\n100644 blob ${blob}\tdup\n` })
      ).stdout.trim();
      expect(await repo.diff(t1, twice)).toEqual(await viaGit(t1, twice));
    } finally {
      repo.close();
    }
  });
});

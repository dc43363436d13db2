import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTrees, rootTree } from '../../src/repo/tree-walk.js';
import { NodeRepo } from '../../src/repo/node-repo.js';
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
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { commitDiff } from '../../../src/observe/commit-diff.js';
import { NodeRepo } from '../../../src/repo/node-repo.js';

const dir = mkdtempSync(join(tmpdir(), 'gf-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real repo: one commit with a secret's ciphertext and a user file, then one changing both. */
function commitOf(gitDir: string, files: Record<string, string>, parent?: string): string {
  const env = {
    ...process.env,
    GIT_INDEX_FILE: join(dir, 'index'),
    GIT_AUTHOR_NAME: 't',
    GIT_AUTHOR_EMAIL: 't@t',
    GIT_COMMITTER_NAME: 't',
    GIT_COMMITTER_EMAIL: 't@t',
  };
  const g = (args: string[], input?: string) =>
    execFileSync('git', ['--git-dir', gitDir, ...args], { env, input })
      .toString()
      .trim();
  g(['read-tree', '--empty']);
  for (const [path, content] of Object.entries(files))
    g(['update-index', '--add', '--cacheinfo', `100644,${g(['hash-object', '-w', '--stdin'], content)},${path}`]);
  return g(['commit-tree', g(['write-tree']), ...(parent ? ['-p', parent] : []), '-m', 'x']);
}

describe('status page diff', () => {
  it('says <secret changed> for a secret and masks secret-looking fields', async () => {
    const stateDir = join(dir, 'state');
    const repo = new NodeRepo({ remote: join(dir, 'remote.git'), branch: 'main', stateDir });
    await repo.ensure();
    try {
      const a = commitOf(repo.gitDir, {
        'keys/host.key.age': 'age-encryption.org/v1\n-> X25519 one\nAAAA\n',
        'domains/acme/users/bob.yaml': 'name: bob\npasswordHash: $6$old\n',
      });
      const b = commitOf(
        repo.gitDir,
        {
          'keys/host.key.age': 'age-encryption.org/v1\n-> X25519 two\nBBBB\n',
          'domains/acme/users/bob.yaml': 'name: bob\npasswordHash: $6$new\n',
        },
        a,
      );
      const { files } = await commitDiff(repo, b);
      const secret = files.find((f) => f.path === 'keys/host.key.age')!;
      expect(secret).toMatchObject({ note: '<secret changed>' });
      expect(secret.patch).toBeUndefined();
      const user = files.find((f) => f.path === 'domains/acme/users/bob.yaml')!;
      expect(user.patch).toContain('+passwordHash: ***');
      expect(user.patch).not.toContain('$6$');
    } finally {
      repo.close();
    }
  });
});

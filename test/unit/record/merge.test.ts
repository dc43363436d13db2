import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeTrees } from '../../../src/record/merge.js';
import { NodeRepo } from '../../../src/repo/node-repo.js';

/** mergeTrees on a real (bare) clone: trees built from blobs, no work tree. */
let dir: string;
let repo: NodeRepo;

async function tree(files: Record<string, string>): Promise<string> {
  const lines: string[] = [];
  for (const [path, text] of Object.entries(files)) {
    const oid = (await repo.git(['hash-object', '-w', '--stdin'], { input: text })).stdout.trim();
    lines.push(`100644 ${oid}\t${path}`);
  }
  const env = { GIT_INDEX_FILE: join(dir, 'build.index') };
  await repo.git(['read-tree', '--empty'], { env });
  if (lines.length) await repo.git(['update-index', '-z', '--index-info'], { env, input: `${lines.join('\0')}\0` });
  return (await repo.git(['write-tree'], { env })).stdout.trim();
}

async function files(t: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await repo.lsTree(t)) out[e.path] = (await repo.blobs.readBlob(e.oid))!.toString();
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gitfailover-merge-'));
  repo = new NodeRepo({ remote: join(dir, 'none.git'), branch: 'main', stateDir: dir });
  await repo.ensure();
});
afterAll(() => {
  repo.close();
  rmSync(dir, { recursive: true, force: true });
});

const idx = () => join(dir, 'merge.index');
const alice = (home: string, quota: number) => `name: alice\nhome: ${home}\npermissions: [read]\nquota: ${quota}\n`;

describe('mergeTrees', () => {
  it('keeps both sides when they change different files, and merges different lines of one file', async () => {
    const base = await tree({ 'a.yaml': alice('/a', 1), 'b.yaml': 'b\n' });
    const ours = await tree({ 'a.yaml': alice('/a', 2), 'b.yaml': 'b\n', 'c.yaml': 'c\n' });
    const theirs = await tree({ 'a.yaml': alice('/moved', 1) });
    const m = await mergeTrees(repo, base, ours, theirs, idx());
    expect(m.conflicts).toEqual([]);
    expect(await files(m.tree)).toEqual({ 'a.yaml': alice('/moved', 2), 'c.yaml': 'c\n' }); // b deleted by theirs, c added by ours
  });

  it('keeps theirs and reports the file when both change the same lines, or one deletes what the other changed', async () => {
    const base = await tree({ 'a.yaml': alice('/a', 1), 'd.yaml': 'd\n' });
    const ours = await tree({ 'a.yaml': alice('/live', 1) });
    const theirs = await tree({ 'a.yaml': alice('/repo', 1), 'd.yaml': 'd changed\n' });
    const m = await mergeTrees(repo, base, ours, theirs, idx());
    expect(m.conflicts.map((c) => c.path).sort()).toEqual(['a.yaml', 'd.yaml']);
    expect(await files(m.tree)).toEqual({ 'a.yaml': alice('/repo', 1), 'd.yaml': 'd changed\n' });
  });

  it('takes the same change made on both sides once, and an add/add of different content as a conflict', async () => {
    const base = await tree({ 'a.yaml': 'a\n' });
    const ours = await tree({ 'a.yaml': 'same\n', 'n.yaml': 'mine\n' });
    const theirs = await tree({ 'a.yaml': 'same\n', 'n.yaml': 'yours\n' });
    const m = await mergeTrees(repo, base, ours, theirs, idx());
    expect(m.conflicts).toEqual([{ path: 'n.yaml', reason: 'added here and in the repo with different content' }]);
    expect(await files(m.tree)).toEqual({ 'a.yaml': 'same\n', 'n.yaml': 'yours\n' });
  });
});

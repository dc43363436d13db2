import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dirTreeSource, gitBlobId, readModelEntries } from '../../../src/model/tree-source.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gf-tree-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(rel: string, text: string): void {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), text);
}

describe('gitBlobId', () => {
  it('agrees with git hash-object', () => {
    write('a.txt', 'hello\n');
    const git = execFileSync('git', ['hash-object', join(dir, 'a.txt')], { encoding: 'utf8' }).trim();
    expect(gitBlobId(Buffer.from('hello\n'))).toBe(git);
    expect(gitBlobId(Buffer.alloc(0))).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
  });
});

describe('dirTreeSource', () => {
  it('lists files, dirs, symlinks and nested repos, sorted, without following links or entering .git', async () => {
    write('server.yaml', 'a: 1\n');
    write('domains/acme/domain.yaml', 'x: 1\n');
    write('.git/HEAD', 'ref: x\n');
    write('vendor/lib/.git', 'gitdir: ../x\n');
    write('vendor/lib/file', 'x');
    symlinkSync('/etc', join(dir, 'domains', 'acme', 'etc'));
    const list = await dirTreeSource(dir).list();
    expect(list.map((e) => [e.path, e.type])).toEqual([
      ['domains', 'dir'],
      ['domains/acme', 'dir'],
      ['domains/acme/domain.yaml', 'file'],
      ['domains/acme/etc', 'symlink'],
      ['server.yaml', 'file'],
      ['vendor', 'dir'],
      ['vendor/lib', 'submodule'],
    ]);
    expect(list.find((e) => e.path === 'server.yaml')!.size).toBe(5);
  });

  it('leaves out excluded paths', async () => {
    write('data/big', 'x');
    write('domains/acme/x.log', 'x');
    write('domains/acme/x.conf', 'x');
    const list = await dirTreeSource(dir, { exclude: ['data/**', '**/*.log'] }).list();
    expect(list.map((e) => e.path)).toEqual(['domains', 'domains/acme', 'domains/acme/x.conf']);
  });

  it('reads files, and refuses paths out of the tree and symlinks', async () => {
    write('a/b.txt', 'hi');
    symlinkSync('/etc/hostname', join(dir, 'link'));
    const src = dirTreeSource(dir);
    expect((await src.read('a/b.txt')).toString()).toBe('hi');
    await expect(src.read('../etc/passwd')).rejects.toThrow(/not a plain path/);
    await expect(src.read('/etc/passwd')).rejects.toThrow(/not a plain path/);
    await expect(src.read('link')).rejects.toThrow();
  });
});

describe('readModelEntries', () => {
  it('gives ids for every file and text for the layout YAML files only', async () => {
    write('server.yaml', 'a: 1\n');
    write('domains/acme/native/x.conf', 'x=1\n');
    write('big.bin', 'x'.repeat(100));
    const entries = await readModelEntries(dirTreeSource(dir), { maxFileSize: 50 });
    expect(entries).toEqual([
      { path: 'domains/acme/native/x.conf', id: gitBlobId(Buffer.from('x=1\n')) },
      { path: 'server.yaml', id: gitBlobId(Buffer.from('a: 1\n')), text: 'a: 1\n' },
    ]);
  });
});

import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FilesLoader, holdsExactly } from '../../../src/loaders/files.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function live(): string {
  const d = mkdtempSync(join(tmpdir(), 'gf-files-'));
  dirs.push(d);
  return d;
}
const files = new Map([
  ['domain.yaml', Buffer.from('name: acme\n')],
  ['users/alice.yaml', Buffer.from('name: alice\n')],
]);

describe('FilesLoader.writeDomain', () => {
  it('leaves a domain that already holds exactly the same bytes untouched, and swaps in any difference', () => {
    const dir = live();
    const loader = new FilesLoader(dir, 'domains');
    loader.prepare();
    loader.writeDomain('acme', files);
    const alice = join(dir, 'domains/acme/users/alice.yaml');
    const first = statSync(alice).ino;
    loader.writeDomain('acme', files);
    expect(statSync(alice).ino).toBe(first); // identical: not rewritten

    writeFileSync(join(dir, 'domains/acme/users/mallory.yaml'), 'name: mallory\n'); // a file more
    expect(holdsExactly(join(dir, 'domains/acme'), files)).toBe(false);
    loader.writeDomain('acme', files);
    expect(statSync(alice).ino).not.toBe(first);
    expect(holdsExactly(join(dir, 'domains/acme'), files)).toBe(true);
  });

  it('sees a file less, a changed byte and an extra empty folder as different', () => {
    const dir = join(live(), 'acme');
    mkdirSync(join(dir, 'users'), { recursive: true });
    writeFileSync(join(dir, 'domain.yaml'), 'name: acme\n');
    expect(holdsExactly(dir, files)).toBe(false); // users/ empty, alice missing
    writeFileSync(join(dir, 'users/alice.yaml'), 'name: alicE\n');
    expect(holdsExactly(dir, files)).toBe(false);
    writeFileSync(join(dir, 'users/alice.yaml'), 'name: alice\n');
    expect(holdsExactly(dir, files)).toBe(true);
    mkdirSync(join(dir, 'empty'));
    expect(holdsExactly(dir, files)).toBe(false);
    expect(holdsExactly(join(dir, 'nope'), files)).toBe(false);
  });
});

describe('FilesLoader.stage', () => {
  const domainFiles = (d: string) =>
    new Map([
      ['domain.yaml', Buffer.from(`name: ${d}\n`)],
      ['users/u1.yaml', Buffer.from(`name: u1\nhome: /data/${d}\n`)],
      ['users/u2.yaml', Buffer.from('name: u2\n')],
    ]);

  it('builds domains in staging without touching the live dir; writeDomain with the same files swaps each in', () => {
    const dir = live();
    // What an interrupted apply left in staging goes at the first stage().
    mkdirSync(join(dir, '.gitfailover-staging/old.1.new'), { recursive: true });
    const loader = new FilesLoader(dir, 'domains');
    const names = Array.from({ length: 8 }, (_, i) => `d${i}`);
    const maps = new Map(names.map((d) => [d, domainFiles(d)]));
    for (const d of names) loader.stage(d, maps.get(d)!);
    expect(loader.liveDomains()).toEqual([]);
    loader.prepare(); // keeps this apply's builds
    for (const d of names) loader.writeDomain(d, maps.get(d)!);
    for (const d of names) expect(holdsExactly(join(dir, 'domains', d), maps.get(d)!)).toBe(true);
    loader.finish();
    expect(() => statSync(join(dir, '.gitfailover-staging'))).toThrow();
  });

  it('a different files map than the one staged is written as given; discardStaged removes every build', () => {
    const dir = live();
    const loader = new FilesLoader(dir, 'domains');
    loader.stage('a', domainFiles('a'));
    loader.stage('b', domainFiles('b'));
    loader.prepare();
    const other = domainFiles('other');
    loader.writeDomain('a', other);
    expect(holdsExactly(join(dir, 'domains/a'), other)).toBe(true);
    loader.discardStaged();
    expect(() => statSync(join(dir, '.gitfailover-staging'))).toThrow();
    expect(loader.liveDomains()).toEqual(['a']);
  });
});

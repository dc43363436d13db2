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

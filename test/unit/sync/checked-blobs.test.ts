import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CheckedBlobs } from '../../../src/sync/checked-blobs.js';
import { removeDir, tempDir } from '../../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

const oid = (i: number) => i.toString(16).padStart(40, '0');
const path = (i: number) => `domains/d${Math.floor(i / 10)}/users/u${i % 10}.yaml`;

describe('the known-good list (compact in memory, the same file on disk)', () => {
  it('finds exactly what was saved, keeps what a sync adds out until it saves, survives a torn line, and compacts after a full sync', () => {
    const dir = tempDir('gf-known-');
    dirs.push(dir);
    const file = join(dir, 'checked-blobs');
    const first = new CheckedBlobs(dir, 'domains');
    for (let i = 0; i < 3000; i++) first.add(oid(i), path(i), i % 10 === 0 ? [`10.0.0.${i % 200}|22|s${i}`] : []);
    // Not saved: a sync that does not pass leaves nothing behind.
    expect(new CheckedBlobs(dir, 'domains').has(oid(1), path(1))).toBe(false);
    first.save();
    expect(existsSync(join(dir, 'checked-blobs.adding'))).toBe(false);
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toBe('gitfailover checked-blobs v2 domains');
    expect(lines[1]).toBe(`${oid(0)} ${path(0)}\t10.0.0.0|22|s0`);
    expect(lines).toHaveLength(3002);

    // A line cut short by a crash is never trusted; a line written twice counts once.
    appendFileSync(file, `${oid(1)} ${path(1)}\t\n${oid(5000)} ${path(5000)}`);
    const known = new CheckedBlobs(dir, 'domains');
    expect(known.has(oid(5000), path(5000))).toBe(false);
    expect(known.has(oid(1), path(1))).toBe(true);
    // Exact: the same blob at another path, or another blob at the path, was not checked.
    expect(known.has(oid(1), path(2))).toBe(false);
    expect(known.has(oid(2), path(1))).toBe(false);
    expect(known.has(oid(1).toUpperCase().replace(/0/g, 'x'), path(1))).toBe(false);
    expect(known.bindings(oid(20), path(20))).toEqual(['10.0.0.20|22|s20']);
    expect(known.bindings(oid(21), path(21))).toEqual([]);
    expect(known.bindings(oid(21), path(22))).toBeUndefined();

    // A full sync that looked up 11 of 3,000 and added one: the file keeps only those 12.
    for (let i = 10; i < 20; i++) expect(known.has(oid(i), path(i))).toBe(true);
    known.add(oid(9999), 'domains/née/users/ü.yaml', ['10.0.0.9|21|é']);
    known.add(oid(1), path(1)); // known already: not written again
    known.save(true);
    const after = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    expect(after).toHaveLength(13);
    const reloaded = new CheckedBlobs(dir, 'domains');
    expect(reloaded.has(oid(20), path(20))).toBe(false);
    expect(reloaded.has(oid(15), path(15))).toBe(true);
    expect(reloaded.bindings(oid(9999), 'domains/née/users/ü.yaml')).toEqual(['10.0.0.9|21|é']);
    // Another domains folder: the list starts afresh.
    expect(new CheckedBlobs(dir, 'sites').has(oid(15), path(15))).toBe(false);
  });
});

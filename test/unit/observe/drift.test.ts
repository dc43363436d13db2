import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../../src/config/load.js';
import { gitBlobId } from '../../../src/model/tree-source.js';
import { DRIFT_CACHE_FILE } from '../../../src/observe/drift-cache.js';
import { driftOf } from '../../../src/observe/status.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const root = mkdtempSync(join(tmpdir(), 'gf-drift-'));
  dirs.push(root);
  const live = join(root, 'live');
  const stateDir = join(root, 'state');
  mkdirSync(join(live, 'domains', 'a', 'users'), { recursive: true });
  mkdirSync(stateDir);
  const files: Record<string, string> = {
    'domains/a/domain.yaml': 'name: a\n',
    'domains/a/users/u1.yaml': 'name: u1\nhome: /data/u1\n',
    'domains/a/users/u2.yaml': 'name: u2\nhome: /data/u2\n',
  };
  const manifest: Record<string, string> = {};
  for (const [p, text] of Object.entries(files)) {
    writeFileSync(join(live, p), text);
    manifest[p] = gitBlobId(Buffer.from(text));
  }
  const cfg = { live: { dir: live, domains: 'domains/*' }, repo: { stateDir } } as unknown as NodeConfig;
  return { live, stateDir, cfg, manifest };
}

describe('driftOf with its stat cache', () => {
  it('reports an edit made after the files were remembered, even one that keeps size and mtime', () => {
    const { live, stateDir, cfg, manifest } = setup();
    // "Later": the files' times are older than the racy margin, so the first check remembers them.
    const later = Date.now() + 60_000;
    expect(driftOf(cfg, manifest, { now: later })).toEqual({ changed: [], missing: [], extra: [] });
    const cached = JSON.parse(readFileSync(join(stateDir, DRIFT_CACHE_FILE), 'utf8')) as Record<string, string>;
    expect(Object.keys(cached).sort()).toEqual(Object.keys(manifest).sort());
    expect(driftOf(cfg, manifest, { now: later })).toEqual({ changed: [], missing: [], extra: [] });

    // Same size, mtime set back: only the ctime moved.
    const u1 = join(live, 'domains/a/users/u1.yaml');
    const before = statSync(u1);
    writeFileSync(u1, 'name: u1\nhome: /data/X1\n');
    utimesSync(u1, before.atime, before.mtime);
    expect(statSync(u1).size).toBe(before.size);
    writeFileSync(join(live, 'domains/a/users/u3.yaml'), 'name: u3\n');
    rmSync(join(live, 'domains/a/users/u2.yaml'));
    expect(driftOf(cfg, manifest, { now: Date.now() + 120_000 })).toEqual({
      changed: ['domains/a/users/u1.yaml'],
      missing: ['domains/a/users/u2.yaml'],
      extra: ['domains/a/users/u3.yaml'],
    });
  });

  it('does not remember a file written within the racy margin of the check, and reads it again', () => {
    const { stateDir, cfg, manifest } = setup();
    expect(driftOf(cfg, manifest).changed).toEqual([]);
    const file = join(stateDir, DRIFT_CACHE_FILE);
    expect(existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {}).toEqual({});
  });

  it('reads every file when the cache is unreadable, and a state dir it cannot write changes nothing', () => {
    const { live, stateDir, cfg, manifest } = setup();
    writeFileSync(join(stateDir, DRIFT_CACHE_FILE), '{not json');
    writeFileSync(join(live, 'domains/a/domain.yaml'), 'name: b\n');
    expect(driftOf(cfg, manifest, { now: Date.now() + 60_000 }).changed).toEqual(['domains/a/domain.yaml']);
    const noState = { ...cfg, repo: { stateDir: join(stateDir, 'absent') } } as unknown as NodeConfig;
    expect(driftOf(noState, manifest, { now: Date.now() + 60_000 }).changed).toEqual(['domains/a/domain.yaml']);
  });
  it('leaves no temp file beside the cache when it cannot be moved into place', () => {
    const { stateDir, cfg, manifest } = setup();
    // A folder where the cache goes: the temp file is written, the rename onto the folder fails.
    mkdirSync(join(stateDir, DRIFT_CACHE_FILE, 'x'), { recursive: true });
    expect(driftOf(cfg, manifest, { now: Date.now() + 60_000 })).toEqual({ changed: [], missing: [], extra: [] });
    expect(readdirSync(stateDir)).toEqual([DRIFT_CACHE_FILE]);
  });

  it('reports a file or a folder replaced by a symbolic link to the same bytes (the next sync would refuse it)', () => {
    const { live, cfg, manifest } = setup();
    const later = Date.now() + 60_000;
    expect(driftOf(cfg, manifest, { now: later })).toEqual({ changed: [], missing: [], extra: [] });
    const u2 = join(live, 'domains/a/users/u2.yaml');
    renameSync(u2, join(live, 'u2.copy'));
    symlinkSync(join(live, 'u2.copy'), u2);
    expect(driftOf(cfg, manifest, { now: later }).changed).toEqual(['domains/a/users/u2.yaml']);
    renameSync(join(live, 'domains/a'), join(live, 'a.real'));
    symlinkSync(join(live, 'a.real'), join(live, 'domains/a'));
    expect(driftOf(cfg, manifest, { now: later }).changed).toEqual(Object.keys(manifest).sort());
  });
});

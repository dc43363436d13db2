import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateStateDir } from '../../../src/sync/migrate-state.js';
import { loadState, lookupBindings, StateStore, statePath, unmappedOf } from '../../../src/sync/state.js';
import { removeDir, tempDir } from '../../helpers/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});
function stateDir(): string {
  const d = tempDir('gf-state-');
  dirs.push(d);
  return d;
}
const files = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('bindings-') || f.startsWith('.bindings-'));
const stateJson = (dir: string) => JSON.parse(readFileSync(statePath(dir), 'utf8')) as Record<string, unknown>;

describe('bindings in their own file', () => {
  it('count only once state.json names them: new bindings written but no state saved (a crash) leave the old ones, and removing unused files keeps the named one', () => {
    const dir = stateDir();
    const store = new StateStore(dir);
    const s1 = store.read();
    s1.bindingsFile = store.writeBindings({ acme: ['10.1.0.5:22'] });
    s1.appliedCommit = 'a'.repeat(40);
    store.write(s1);

    const s2 = new StateStore(dir).read();
    new StateStore(dir).writeBindings({ acme: ['10.1.0.5:2222'] });
    expect(files(dir)).toHaveLength(2);
    // killed here: state.json still names the first file

    const next = new StateStore(dir);
    const s3 = next.read();
    expect(s3.bindingsFile).toBe(s2.bindingsFile);
    expect(next.bindings(s3)).toEqual({ acme: ['10.1.0.5:22'] });
    next.removeUnusedBindings(s3.bindingsFile);
    expect(files(dir)).toEqual([s3.bindingsFile]);
  });

  it('stay out of state.json, which stays small', () => {
    const dir = stateDir();
    const store = new StateStore(dir);
    const s = store.read();
    const many: Record<string, string[]> = {};
    for (let i = 0; i < 1000; i++) many[`d${i}`] = [`10.1.0.5:${1000 + i}`];
    s.bindingsFile = store.writeBindings(many);
    expect(store.sameBindings(s, 'd7', ['10.1.0.5:1007'])).toBe(true);
    store.write(s);
    expect(readFileSync(statePath(dir), 'utf8')).not.toContain('10.1.0.5');
    const again = new StateStore(dir);
    expect(again.bindings(again.read())).toEqual(many);
  });
});

describe('migrateStateDir', () => {
  /** What older versions left: manifest, bindings and the unmapped map inside state.json, and a bindings file no state names. */
  function oldLayout(dir: string): Record<string, unknown> {
    const old = {
      consecutiveFailures: 0,
      appliedCommit: 'b'.repeat(40),
      bindings: { acme: ['10.1.0.5:22'] },
      manifest: { 'domains/acme/domain.yaml': '1'.repeat(40), 'global.conf': '2'.repeat(40) },
      unmapped: { acme: ['10.0.0.6:22'] },
    };
    writeFileSync(statePath(dir), JSON.stringify(old));
    writeFileSync(join(dir, 'bindings-orphan-1.json'), '{}');
    return old;
  }

  it('moves an old layout out of state.json once; reads before it change nothing; a second run is a no-op', async () => {
    const dir = stateDir();
    const old = oldLayout(dir);
    const before = readFileSync(statePath(dir), 'utf8');
    // Reading is read-only: the legacy keys are hidden, not written anywhere.
    const read = new StateStore(dir);
    expect(read.read().appliedCommit).toBe(old.appliedCommit);
    expect(read.unmigrated).toBe(true);
    expect(loadState(dir)).not.toHaveProperty('bindings');
    expect(readFileSync(statePath(dir), 'utf8')).toBe(before);

    expect(await migrateStateDir(dir, 'domains')).toBe(true);
    const saved = stateJson(dir);
    expect(saved).not.toHaveProperty('bindings');
    expect(saved).not.toHaveProperty('manifest');
    expect(saved).not.toHaveProperty('unmapped');
    expect(saved.appliedCommit).toBe(old.appliedCommit);
    expect(files(dir)).toEqual([saved.bindingsFile]);
    const store = new StateStore(dir);
    const s = store.read();
    expect(store.unmigrated).toBe(false);
    expect(store.bindings(s)).toEqual(old.bindings);
    expect(store.manifest()).toEqual(old.manifest);
    expect(store.globalsManifest()).toEqual({ 'global.conf': '2'.repeat(40) });

    const after = readFileSync(statePath(dir), 'utf8');
    expect(await migrateStateDir(dir, 'domains')).toBe(false);
    expect(readFileSync(statePath(dir), 'utf8')).toBe(after);
  });

  it('bindings in state.json win over a bindings file it also names (written by an older gitfailover after a downgrade)', async () => {
    const dir = stateDir();
    const store = new StateStore(dir);
    const s = store.read();
    s.bindingsFile = store.writeBindings({ acme: ['10.1.0.5:22'] });
    store.write(s);
    writeFileSync(statePath(dir), JSON.stringify({ ...stateJson(dir), bindings: { acme: ['10.1.0.5:2222'] } }));
    await migrateStateDir(dir, 'domains');
    const fresh = new StateStore(dir);
    expect(fresh.bindings(fresh.read())).toEqual({ acme: ['10.1.0.5:2222'] });
    expect(files(dir)).toHaveLength(1);
  });

  it('leaves a state dir without state.json (a new node) alone', async () => {
    const dir = stateDir();
    expect(await migrateStateDir(dir, 'domains')).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("one domain's stored bindings", () => {
  const stored = {
    acme: ['a:1', 'b:2'],
    'acme.example': ['[2001:db8:1::5]:990'],
    none: [] as string[],
    wacme: ['c:3'],
  };
  const text = JSON.stringify(stored);

  it('are found in the compact text without parsing it whole', () => {
    expect(lookupBindings(text, 'acme')).toEqual(['a:1', 'b:2']);
    expect(lookupBindings(text, 'acme.example')).toEqual(['[2001:db8:1::5]:990']);
    expect(lookupBindings(text, 'none')).toEqual([]);
    expect(lookupBindings(text, 'cme')).toBeUndefined();
    expect(lookupBindings(text, 'constructor')).toBeUndefined();
    expect(lookupBindings('{}', 'acme')).toBeUndefined();
    // not the compact shape: the caller parses it whole
    expect(lookupBindings(JSON.stringify(stored, null, 2), 'acme')).toBeNull();
  });

  it('compare one domain, none and absent alike, whether the file was parsed or not', () => {
    const dir = stateDir();
    const writer = new StateStore(dir);
    const s = writer.read();
    s.bindingsFile = writer.writeBindings(stored);
    writer.write(s);
    const parsed = new StateStore(dir);
    parsed.bindings(parsed.read());
    for (const store of [new StateStore(dir), parsed]) {
      const st = store.read();
      expect(store.sameBindings(st, 'acme', ['a:1', 'b:2'])).toBe(true);
      expect(store.sameBindings(st, 'acme', ['b:2', 'a:1'])).toBe(false);
      expect(store.sameBindings(st, 'acme', undefined)).toBe(false);
      expect(store.sameBindings(st, 'new', [])).toBe(true);
      expect(store.sameBindings(st, 'constructor', [])).toBe(true);
      expect(store.sameBindings(st, 'constructor', ['a:1'])).toBe(false);
      expect(store.bindingsOf(st, 'wacme')).toEqual(['c:3']);
    }
  });
});

describe('unmapped service addresses', () => {
  it('are read from the stored bindings with the current substitution', () => {
    const dir = stateDir();
    const store = new StateStore(dir);
    const s = store.read();
    s.bindingsFile = store.writeBindings({
      acme: ['10.1.0.5:22'],
      newco: ['10.0.0.6:22', '0.0.0.0:21'],
      shared: ['10.0.0.7:22'],
    });
    store.write(s);

    const ips = { '10.0.0.5': '10.1.0.5' };
    const again = loadState(dir);
    expect(unmappedOf(dir, again, { ips, keep: [] })).toEqual(['newco 10.0.0.6:22', 'shared 10.0.0.7:22']);
    expect(unmappedOf(dir, again, { ips, keep: ['10.0.0.7'] })).toEqual(['newco 10.0.0.6:22']);
    // An empty substitution.ips is "no substitution": nothing is reported.
    expect(unmappedOf(dir, again, { ips: {}, keep: [] })).toEqual([]);
  });
});

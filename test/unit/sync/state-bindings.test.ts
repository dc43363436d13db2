import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadState,
  lookupBindings,
  sameBindings,
  saveBindings,
  saveState,
  statePath,
  storedBindingsOf,
  unmappedOf,
} from '../../../src/sync/state.js';
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
const asSync = { domainsDir: 'domains' };
const files = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('bindings-') || f.startsWith('.bindings-'));

describe('bindings in their own file', () => {
  it('count only once state.json names them: new bindings written but no state saved (a crash) leave the old ones, and the next sync removes the orphan', () => {
    const dir = stateDir();
    const s1 = loadState(dir, asSync);
    saveBindings(dir, s1, { acme: ['10.1.0.5:22'] });
    s1.appliedCommit = 'a'.repeat(40);
    saveState(dir, s1);

    const s2 = loadState(dir, asSync);
    saveBindings(dir, s2, { acme: ['10.1.0.5:2222'] });
    expect(files(dir)).toHaveLength(2);
    // killed here: state.json still names the first file

    const s3 = loadState(dir, asSync);
    expect(s3.bindings).toEqual({ acme: ['10.1.0.5:22'] });
    expect(files(dir)).toEqual([s3.bindingsFile]);
  });

  it('stay out of state.json, which stays small', () => {
    const dir = stateDir();
    const s = loadState(dir, asSync);
    const many: Record<string, string[]> = {};
    for (let i = 0; i < 1000; i++) many[`d${i}`] = [`10.1.0.5:${1000 + i}`];
    void s.bindings; // read before, replaced after
    saveBindings(dir, s, many);
    expect(s.bindings).toBe(many);
    expect(sameBindings(s, 'd7', ['10.1.0.5:1007'])).toBe(true);
    saveState(dir, s);
    const text = readFileSync(statePath(dir), 'utf8');
    expect(text).not.toContain('10.1.0.5');
    expect(loadState(dir).bindings).toEqual(many);
  });

  it('an old state.json: a sync moves the bindings out; a reader without the sync lock keeps them in state.json', () => {
    const dir = stateDir();
    const old = { consecutiveFailures: 0, appliedCommit: 'b'.repeat(40), bindings: { acme: ['10.1.0.5:22'] } };
    writeFileSync(statePath(dir), JSON.stringify(old));

    const reader = loadState(dir);
    expect(reader.bindings).toEqual(old.bindings);
    saveState(dir, reader);
    expect(JSON.parse(readFileSync(statePath(dir), 'utf8')).bindings).toEqual(old.bindings);
    expect(files(dir)).toEqual([]);

    const sync = loadState(dir, asSync);
    expect(sync.bindings).toEqual(old.bindings);
    saveState(dir, sync);
    const saved = JSON.parse(readFileSync(statePath(dir), 'utf8'));
    expect(saved.bindings).toBeUndefined();
    expect(files(dir)).toEqual([saved.bindingsFile]);
    expect(loadState(dir).bindings).toEqual(old.bindings);
  });

  it('bindings in state.json win over a bindings file it also names (written by an older gitfailover after a downgrade)', () => {
    const dir = stateDir();
    const s = loadState(dir, asSync);
    saveBindings(dir, s, { acme: ['10.1.0.5:22'] });
    saveState(dir, s);
    const downgraded = { ...JSON.parse(readFileSync(statePath(dir), 'utf8')), bindings: { acme: ['10.1.0.5:2222'] } };
    writeFileSync(statePath(dir), JSON.stringify(downgraded));
    expect(loadState(dir, asSync).bindings).toEqual({ acme: ['10.1.0.5:2222'] });
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
    const s = loadState(dir, asSync);
    saveBindings(dir, s, stored);
    saveState(dir, s);
    const parsed = loadState(dir);
    void parsed.bindings;
    for (const fresh of [loadState(dir), parsed]) {
      expect(sameBindings(fresh, 'acme', ['a:1', 'b:2'])).toBe(true);
      expect(sameBindings(fresh, 'acme', ['b:2', 'a:1'])).toBe(false);
      expect(sameBindings(fresh, 'acme', undefined)).toBe(false);
      expect(sameBindings(fresh, 'new', [])).toBe(true);
      expect(sameBindings(fresh, 'constructor', [])).toBe(true);
      expect(sameBindings(fresh, 'constructor', ['a:1'])).toBe(false);
      expect(storedBindingsOf(fresh, 'wacme')).toEqual(['c:3']);
    }
  });
});

describe('unmapped service addresses', () => {
  it("are read from the stored bindings with the current substitution; an older state.json's map is dropped on read", () => {
    const dir = stateDir();
    // What an older gitfailover wrote: the map in state.json, rewritten with every apply.
    writeFileSync(
      statePath(dir),
      JSON.stringify({ appliedCommit: 'a'.repeat(40), consecutiveFailures: 0, unmapped: { newco: ['10.0.0.6:22'] } }),
    );
    const s = loadState(dir, asSync);
    saveBindings(dir, s, { acme: ['10.1.0.5:22'], newco: ['10.0.0.6:22', '0.0.0.0:21'], shared: ['10.0.0.7:22'] });
    saveState(dir, s);
    expect(JSON.parse(readFileSync(statePath(dir), 'utf8')).unmapped).toBeUndefined();

    const ips = { '10.0.0.5': '10.1.0.5' };
    const again = loadState(dir);
    expect(unmappedOf(again, { ips, keep: [] })).toEqual(['newco 10.0.0.6:22', 'shared 10.0.0.7:22']);
    expect(unmappedOf(again, { ips, keep: ['10.0.0.7'] })).toEqual(['newco 10.0.0.6:22']);
    // An empty substitution.ips is "no substitution": nothing is reported.
    expect(unmappedOf(again, { ips: {}, keep: [] })).toEqual([]);
  });
});

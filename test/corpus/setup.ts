import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { expect } from 'vitest';
import { stringify } from 'yaml';
import { loadNodeFile, type NodeConfig } from '../../src/config/load.js';
import { journalPath, loadState } from '../../src/sync/state.js';
import { syncOnce } from '../../src/sync/sync.js';
import { Crafter, files, type CraftFile } from '../helpers/craft.js';
import { initRemote, makePair, writeFile, type Pair } from '../helpers/fixture.js';

/**
 * One remote and one standby per corpus file: a good commit G is applied once; each case pushes
 * one bad commit on top of G (objects written straight into the remote, as an attacker with push
 * access could), runs a partial and a full sync, and moves the branch back to G.
 */
export interface Corpus {
  pair: Pair;
  cfg: NodeConfig;
  crafter: Crafter;
  good: string;
  base: CraftFile[];
  /** The live dir after G was applied, byte for byte (type, mode, content hash of every entry). */
  served: Record<string, string>;
}

export const BASE: Record<string, string> = {
  'server.yaml': 'name: mft\nlogLevel: info\n',
  'native/mft.conf': 'listen 10.0.0.5\n',
  'domains/acme/domain.yaml': 'name: acme\nenabled: true\n',
  'domains/acme/services.yaml': stringify({ services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] }),
  'domains/acme/users/alice.yaml': 'name: alice\npasswordHash: $2b$10$abcdefghijklmnopqrstuv\nhome: /data/alice\n',
  'domains/beta/domain.yaml': 'name: beta\n',
  'domains/beta/services.yaml': stringify({ services: [{ name: 'ftps', protocol: 'ftps', ip: '10.0.0.6', port: 990 }] }),
};

export async function setupCorpus(): Promise<Corpus> {
  const pair = makePair();
  await initRemote(pair);
  writeFile(pair.standby, readFileSync(pair.standby, 'utf8') + stringify({ sync: { timeout: '30s' } }));
  const crafter = new Crafter(pair.remote);
  const base = files(BASE);
  const good = crafter.commit(crafter.buildTree(base), [], 'good configuration');
  crafter.setBranch('main', good);
  const cfg = loadNodeFile({ file: pair.standby });
  const first = await syncOnce(cfg, { onDemand: true });
  expect(first.result.error).toBeUndefined();
  expect(first.result.success).toBe(true);
  return { pair, cfg, crafter, good, base, served: liveBytes(pair.failLive) };
}

/** Every entry under `dir`: kind, mode and a hash of the bytes (or of the link target). */
export function liveBytes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const rel = relative(dir, p).split(sep).join('/');
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[rel] = `dir ${st.mode.toString(8)}`;
        walk(p);
      } else out[rel] = `file ${st.mode.toString(8)} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

export interface Refusal {
  /** What the error must say besides the commit: the file (or a part of its path) at fault. */
  names: string | RegExp;
  /** The stable error code, when one is expected. */
  code?: string | RegExp;
  /** Run only the partial sync: reloading a rewritten history is a full sync's very purpose, and a huge case need not run twice. */
  partialOnly?: boolean;
  /** Refused by git's transport before the standby holds the commit: the error names the remote instead. */
  transport?: boolean;
}

/**
 * Push `bad` (files replacing or adding to G's, minus `remove`) as one commit on top of G, then
 * assert all three: refused with an error naming the commit and the file, nothing applied (the
 * live dir byte-identical), and G still the applied commit (the last good config keeps serving).
 */
export async function expectRefused(
  c: Corpus,
  bad: CraftFile[] | { tree: string; parents?: string[] },
  refusal: Refusal,
  remove: string[] = [],
): Promise<void> {
  let commit: string;
  if (Array.isArray(bad)) {
    const keyOf = (f: CraftFile) => f.path.join('\u0001');
    const merged = new Map(c.base.filter((f) => !remove.includes(f.path.join('/'))).map((f) => [keyOf(f), f]));
    for (const f of bad) merged.set(keyOf(f), f);
    commit = c.crafter.commit(c.crafter.buildTree([...merged.values()]), [c.good], 'bad input');
  } else {
    commit = c.crafter.commit(bad.tree, bad.parents ?? [c.good], 'bad input');
  }
  c.crafter.setBranch('main', commit);
  try {
    for (const full of refusal.partialOnly ? [false] : [false, true]) {
      const how = full ? 'full sync' : 'partial sync';
      const out = await syncOnce(c.cfg, { onDemand: true, full });
      const r = out.result;
      expect(r.success, `${how} must refuse commit ${commit.slice(0, 12)}`).toBe(false);
      if (!refusal.transport) expect(r.error, how).toContain(commit.slice(0, 12));
      if (typeof refusal.names === 'string') expect(r.error, how).toContain(refusal.names);
      else expect(r.error, how).toMatch(refusal.names);
      if (refusal.code !== undefined) {
        if (typeof refusal.code === 'string') expect(r.errorCode, `${how}: ${r.error}`).toBe(refusal.code);
        else expect(r.errorCode, `${how}: ${r.error}`).toMatch(refusal.code);
      }
      expect(liveBytes(c.pair.failLive), `${how}: nothing applied`).toEqual(c.served);
      expect(loadState(c.cfg.repo.stateDir).appliedCommit, `${how}: the last good commit keeps serving`).toBe(c.good);
      expect(existsSync(journalPath(c.cfg.repo.stateDir)), `${how}: no apply was started`).toBe(false);
    }
  } finally {
    c.crafter.setBranch('main', c.good);
    // A case that got through must not spoil the next ones: put the standby back on G.
    if (loadState(c.cfg.repo.stateDir).appliedCommit !== c.good) await syncOnce(c.cfg, { onDemand: true, full: true });
  }
}

export { files, type CraftFile };

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadNodeFile, type NodeConfig } from '../../src/config/load.js';
import { realFsOps, type FsOps } from '../../src/loaders/fs-ops.js';
import { NodeRepo } from '../../src/repo/node-repo.js';
import { journalPath, loadState } from '../../src/sync/state.js';
import { syncOnce } from '../../src/sync/sync.js';
import { liveBytes } from '../corpus/setup.js';
import { Crafter, files } from '../helpers/craft.js';
import { initRemote, makePair, removeDir, type Pair } from '../helpers/fixture.js';
import { FULL, report } from './trials.js';

/**
 * Fault injection into apply and rollback. An EIO at the N-th file-system call of an apply cannot
 * be caused for real, so this family replaces the files loader's file-system calls (the FsOps seam,
 * src/loaders/fs-ops.ts) with ones that fail on chosen calls; everything else — git, the sync
 * pipeline, the live dir — is real.
 *
 * For a sync A -> B (partial and full) it counts every file-system step, then:
 *  - apply: makes step k fail once, for every k;
 *  - rollback: for the last apply step k whose failure starts a rollback (so everything the apply
 *    changed goes back), makes each later step m (the rollback's and the clean-up's) fail once too;
 *  - persistent: makes step k and every step after it fail until the sync returns, for every k.
 * `npm run trials` (GF_TRIALS_FULL=1) does every step; `npm test` a spread sample of each family.
 * After each faulty sync the live dir must be byte-identical to the commit the state names as
 * applied (A or B, never in between) unless the journal is kept, and the next sync without
 * faults must reach B with no journal and nothing left in staging.
 */

class Injected extends Error {
  code = 'EIO';
  constructor(op: string, path: string) {
    super(`EIO: i/o error (injected), ${op} '${path}'`);
  }
}

/** FsOps that count every call and fail the calls `failAt` says (1-based). */
function faulty(failAt: (n: number) => boolean): { ops: FsOps; count: () => number } {
  let n = 0;
  const wrap =
    <A extends unknown[], R>(name: string, f: (...a: A) => R) =>
    (...a: A): R => {
      n++;
      if (failAt(n)) throw new Injected(name, String(a[0]));
      return f(...a);
    };
  return {
    ops: {
      mkdir: wrap('mkdir', realFsOps.mkdir),
      writeFile: wrap('open', realFsOps.writeFile),
      rename: wrap('rename', realFsOps.rename),
      removeTree: wrap('rm', realFsOps.removeTree),
      removeFile: wrap('unlink', realFsOps.removeFile),
      removeEmptyDir: wrap('rmdir', realFsOps.removeEmptyDir),
    },
    count: () => n,
  };
}

const A_FILES = {
  'server.yaml': 'name: mft\nlogLevel: info\n',
  'native/mft.conf': 'listen 10.0.0.5\n',
  'native/old.conf': 'old: true\n',
  'domains/acme/domain.yaml': 'name: acme\nenabled: true\n',
  'domains/acme/services.yaml': stringify({ services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] }),
  'domains/acme/users/alice.yaml': 'name: alice\nhome: /data/alice\n',
  'domains/beta/domain.yaml': 'name: beta\n',
  'domains/gone/domain.yaml': 'name: gone\n',
  'domains/gone/users/carol.yaml': 'name: carol\nhome: /data/carol\n',
};
const B_FILES: Record<string, string> = {
  ...A_FILES,
  'server.yaml': 'name: mft\nlogLevel: debug\n',
  'native/new/extra.conf': 'extra: 10.0.0.5\n',
  'domains/acme/users/alice.yaml': 'name: alice\nhome: /data/alice2\n',
  'domains/acme/users/bob.yaml': 'name: bob\nhome: /data/bob\n',
  'domains/fresh/domain.yaml': 'name: fresh\n',
  'domains/fresh/users/dan.yaml': 'name: dan\nhome: /data/dan\n',
};
delete B_FILES['native/old.conf'];
delete B_FILES['domains/gone/domain.yaml'];
delete B_FILES['domains/gone/users/carol.yaml'];

let p: Pair;
let cfg: NodeConfig;
let repo: NodeRepo; // one clone handle for every sync: no cat-file start per sync
let A: string;
let B: string;
const ref: Record<string, Record<string, string>> = {};
/** The live dir as the server sees it: staging is the tool's own (checked empty after the clean sync). */
const live = () =>
  Object.fromEntries(Object.entries(liveBytes(p.failLive)).filter(([k]) => !k.startsWith('.gitfailover-staging')));
const stagingLeft = () =>
  existsSync(join(p.failLive, '.gitfailover-staging')) &&
  readdirSync(join(p.failLive, '.gitfailover-staging')).length > 0;

beforeAll(async () => {
  p = makePair();
  await initRemote(p);
  const crafter = new Crafter(p.remote);
  A = crafter.commit(crafter.buildTree(files(A_FILES)), [], 'A');
  B = crafter.commit(crafter.buildTree(files(B_FILES)), [A], 'B');
  crafter.setBranch('main', B);
  cfg = loadNodeFile({ file: p.standby });
  repo = new NodeRepo(cfg.repo);
  for (const [name, rev] of [
    ['A', A],
    ['B', B],
  ] as const) {
    const out = await syncOnce(cfg, { onDemand: true, full: true, to: rev }, repo);
    expect(out.result.error).toBeUndefined();
    ref[name === 'A' ? A : B] = live();
  }
}, 60_000);
afterAll(() => {
  repo?.close();
  removeDir(p.dir);
});

/** Back to A: a full sync, since B -> A goes back in history. */
async function atA(): Promise<void> {
  const out = await syncOnce(cfg, { onDemand: true, full: true, to: A }, repo);
  expect(out.result.error).toBeUndefined();
  expect(live()).toEqual(ref[A]);
}

/** All of `list` in the full run; in `npm test`, `n` of them spread over it (or `short` when given). */
function pick(list: number[], n: number, short?: number[]): number[] {
  if (FULL) return list;
  if (short) return short.filter((x) => list.includes(x));
  if (list.length <= n) return list;
  return [...new Set([...Array(n).keys()].map((i) => list[Math.round((i * (list.length - 1)) / (n - 1 || 1))]!))];
}

interface Tally {
  cases: number;
  held: number;
  failures: string[];
}

/** One faulty sync A -> B, then the checks and a clean sync to B. */
async function trial(
  full: boolean,
  failAt: (n: number) => boolean,
  label: string,
  t: Tally,
): Promise<{ steps: number; failed: boolean }> {
  await atA();
  const f = faulty(failAt);
  const out = await syncOnce(cfg, { onDemand: true, full, to: B, fsOps: f.ops }, repo);
  const steps = f.count();
  const applied = loadState(cfg.repo.stateDir).appliedCommit!;
  const journalKept = existsSync(journalPath(cfg.repo.stateDir));
  const problems: string[] = [];
  if (!journalKept && JSON.stringify(live()) !== JSON.stringify(ref[applied]))
    problems.push(`live dir is not ${applied === A ? 'A' : 'B'} (the applied commit)`);
  if (out.result.success && applied !== B) problems.push('success without B applied');
  if (!out.result.success && /^[A-Z]+: /.test(out.result.error ?? '')) problems.push(`raw error: ${out.result.error}`);
  const again = await syncOnce(cfg, { onDemand: true, full, to: B }, repo);
  if (!again.result.success) problems.push(`did not converge: ${again.result.error}`);
  if (JSON.stringify(live()) !== JSON.stringify(ref[B])) problems.push('live dir is not B after the clean sync');
  if (existsSync(journalPath(cfg.repo.stateDir))) problems.push('journal left after the clean sync');
  if (stagingLeft()) problems.push('staging left after the clean sync');
  t.cases++;
  if (problems.length === 0) t.held++;
  else t.failures.push(`${label}: ${problems.join('; ')} (first sync: ${out.result.error ?? 'ok'})`);
  return { steps, failed: !out.result.success };
}

describe('fault injection: every file-system step of apply and rollback fails in turn', () => {
  for (const full of [false, true]) {
    const mode = full ? 'full' : 'partial';
    it(`${mode} sync A -> B`, async () => {
      await atA();
      const counter = faulty(() => false);
      const clean = await syncOnce(cfg, { onDemand: true, full, to: B, fsOps: counter.ops }, repo);
      expect(clean.result.error).toBeUndefined();
      const steps = counter.count();
      expect(steps).toBeGreaterThan(10);

      const every = [...Array(steps).keys()].map((i) => i + 1);
      const apply: Tally = { cases: 0, held: 0, failures: [] };
      const runs = new Map<number, { steps: number; failed: boolean }>();
      const applyAt = async (k: number) => {
        if (!runs.has(k)) runs.set(k, await trial(full, (n) => n === k, `${mode}: step ${k} fails`, apply));
        return runs.get(k)!;
      };
      for (const k of pick(every, 5)) await applyAt(k);

      // Rollback: every step after the last apply step whose failure starts a rollback (the
      // largest rollback: everything the apply changed goes back), each failing in turn.
      let kRoll = 0;
      for (let k = steps; k >= 1 && kRoll === 0; k--) {
        const r = await applyAt(k);
        if (r.failed && r.steps > k + 1) kRoll = k;
      }
      expect(kRoll, 'some apply step starts a rollback').toBeGreaterThan(0);
      const rollbackSteps = [...Array(runs.get(kRoll)!.steps - kRoll).keys()].map((i) => kRoll + 1 + i);
      const rollback: Tally = { cases: 0, held: 0, failures: [] };
      for (const m of pick(rollbackSteps, 4))
        await trial(full, (n) => n === kRoll || n === m, `${mode}: step ${kRoll} fails, then step ${m}`, rollback);

      // A fault that lasts: step k and every later one fail until the sync returns.
      const persistent: Tally = { cases: 0, held: 0, failures: [] };
      for (const k of pick(every, 3))
        await trial(full, (n) => n >= k, `${mode}: every step from ${k} fails`, persistent);

      for (const [family, t] of [
        ['apply', apply],
        ['rollback', rollback],
        ['persistent', persistent],
      ] as const) {
        report({
          family: `fault injection, ${mode} sync, ${family}`,
          tried: t.cases,
          held: t.held,
          detail: `${steps} steps in a clean apply${family === 'rollback' ? `, ${rollbackSteps.length} after the failing apply step ${kRoll}` : ''}; ${t.failures.length} did not hold`,
        });
      }
      expect([...apply.failures, ...rollback.failures, ...persistent.failures]).toEqual([]);
      expect(rollback.cases).toBeGreaterThan(0);
    }, 600_000);
  }
});

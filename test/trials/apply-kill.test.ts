import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNodeFile } from '../../src/config/load.js';
import { loadState } from '../../src/sync/state.js';
import { syncOnce } from '../../src/sync/sync.js';
import { Crafter, type CraftFile } from '../helpers/craft.js';
import { initRemote, makePair, removeDir, snapshot } from '../helpers/fixture.js';
import { kill, report, sleep, startWorker, trials, WORKERS } from './trials.js';

/**
 * Family 1: the standby SIGKILLed at random moments of an apply. A worker does full syncs back and
 * forth between commits A and B (every file differs between them) until it is killed; a restart
 * (one sync) must leave the live dir equal to the applied commit, and a reader polling the live
 * dir the whole time must never see a half-written file (each file ends with its own checksum).
 */
const TRIALS = trials(8, 200);
const p = makePair({ standby: { substitution: {} } });
afterAll(() => removeDir(p.dir));

function withSum(body: string): string {
  return `${body}# sum: ${createHash('sha256').update(body).digest('hex')}\n`;
}

/** A config of 12 domains x 7 files (a few KB each), every file tagged with `version`. */
function config(version: string): Record<string, string> {
  const files: Record<string, string> = {
    'native/mft.conf': withSum(`# ${version}\nlisten 10.0.0.99\n${'# pad\n'.repeat(400)}`),
  };
  for (let d = 0; d < 12; d++) {
    const dom = `d${String(d).padStart(2, '0')}`;
    files[`domains/${dom}/domain.yaml`] = withSum(`name: ${dom}\nenabled: true\nversion: ${version}\n`);
    files[`domains/${dom}/services.yaml`] = withSum(
      `services:\n  - name: s\n    protocol: sftp\n    ip: 10.0.0.99\n    port: ${2000 + d}\n# ${version}\n`,
    );
    for (let u = 0; u < 5; u++) {
      files[`domains/${dom}/users/u${u}.yaml`] = withSum(
        `name: u${u}\nhome: /data/${version}/${u}\nnote: "${version.repeat(600)}"\n`,
      );
    }
  }
  return files;
}

describe('trials: standby killed during an apply', () => {
  it(`SIGKILL at random moments of ${TRIALS} applies: never half-written, converges after restart`, async () => {
    await initRemote(p);
    const crafter = new Crafter(p.remote);
    const filesOf = (m: Record<string, string>): CraftFile[] =>
      Object.entries(m).map(([k, v]) => ({ path: k.split('/'), content: v }));
    const contents = { A: config('A'), B: config('B') };
    const A = crafter.commit(crafter.buildTree(filesOf(contents.A)), [], 'A');
    const B = crafter.commit(crafter.buildTree(filesOf(contents.B)), [A], 'B');
    crafter.setBranch('main', B);
    const byCommit: Record<string, Record<string, string>> = { [A]: contents.A, [B]: contents.B };
    const cfg = loadNodeFile({ file: p.standby });

    // How long one full apply takes here, to spread the kills over a few of them.
    expect((await syncOnce(cfg, { full: true, to: A, onDemand: true })).result.success).toBe(true);
    const t0 = Date.now();
    expect((await syncOnce(cfg, { full: true, to: B, onDemand: true })).result.success).toBe(true);
    const span = Math.max(50, Date.now() - t0);
    if (process.env.GF_TRIALS_DEBUG) console.log(`setup done, span ${span}ms`);

    const violations = join(p.dir, 'violations.log');
    writeFileSync(violations, '');
    const reader = spawn(process.execPath, [join(WORKERS, 'reader.mjs'), p.failLive, violations], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let readerOut = '';
    reader.stdout.on('data', (d: Buffer) => (readerOut += d.toString()));

    let held = 0;
    let midApply = 0;
    const failures: string[] = [];
    const journal = join(cfg.repo.stateDir, 'journal.json');
    let next = startWorker('apply.mjs', [p.standby, A, B]);
    for (let t = 0; t < TRIALS; t++) {
      const before = readFileSync(violations, 'utf8');
      const worker = await next;
      next = startWorker('apply.mjs', [p.standby, A, B]); // warms up while this trial runs
      worker.child.stdin!.write('go\n');
      // The kill lands at a random moment after the apply began (its journal is written before
      // the live dir is touched), anywhere in the first ~1.5 applies of the loop.
      const waitStart = Date.now();
      while (!existsSync(journal) && Date.now() - waitStart < 10_000) await sleep(1);
      const at = Math.floor(Math.random() * span * 1.5);
      await sleep(at);
      if (existsSync(journal)) midApply++;
      await kill(worker.child);
      // Restart: one sync finishes whatever the kill interrupted (the journal's target).
      const tk = Date.now();
      const out = await syncOnce(cfg, { onDemand: true });
      if (process.env.GF_TRIALS_DEBUG)
        console.log(`trial ${t}: waited ${tk - waitStart}ms, restart ${Date.now() - tk}ms`);
      const applied = loadState(cfg.repo.stateDir).appliedCommit!;
      const live = snapshot(p.failLive, (rel) => rel.startsWith('.gitfailover'));
      const ok =
        out.result.success &&
        JSON.stringify(live) === JSON.stringify(Object.fromEntries(Object.entries(byCommit[applied] ?? {}).sort())) &&
        !existsSync(join(p.failLive, '.gitfailover-staging')) &&
        readFileSync(violations, 'utf8') === before;
      if (ok) held++;
      else {
        const want = byCommit[applied] ?? {};
        const differ = [...new Set([...Object.keys(live), ...Object.keys(want)])].filter((k) => live[k] !== want[k]);
        const torn = readFileSync(violations, 'utf8').slice(before.length).trim();
        failures.push(
          `trial ${t} (kill at ${at}ms): ${out.result.error ?? ''} applied ${applied.slice(0, 8)}; ${differ.length} files differ (${differ.slice(0, 3).join(', ')}); staging ${existsSync(join(p.failLive, '.gitfailover-staging'))}; torn: ${torn || 'none'}`,
        );
      }
    }
    await kill((await next).child);
    reader.kill('SIGTERM');
    await new Promise((r) => reader.once('exit', r));
    const reads = JSON.parse(readerOut.trim() || '{"reads":0}').reads as number;
    report({
      family: 'standby SIGKILL during apply',
      tried: TRIALS,
      held,
      detail: `${midApply} kills landed with an apply journal open; kills spread over 0-${Math.floor(span * 1.5)}ms after the apply began; the reader made ${reads} file reads, ${readFileSync(violations, 'utf8').split('\n').filter(Boolean).length} torn`,
    });
    expect(readFileSync(violations, 'utf8')).toBe('');
    expect(failures).toEqual([]);
    expect(readFileSync(violations, 'utf8')).toBe('');
    expect(midApply, 'some kills really landed mid-apply').toBeGreaterThan(0);
  }, 3_600_000);
});

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BIN,
  cli,
  git,
  initRemote,
  makePair,
  removeDir,
  snapshot,
  writeDomain,
  writeUser,
} from '../helpers/fixture.js';
import { report, trials } from './trials.js';

/**
 * SIGKILL of the agent at random moments of an apply, then a restart: the journal makes the next
 * run finish the interrupted apply, and the live dir ends equal to the rendered target. Whole CLI
 * processes with IP substitution (apply-kill.test.ts kills a worker mid-apply many more times):
 * `npm test` runs 8 kills, `npm run trials` 20.
 */
const TRIALS = trials(8, 20);
const p = makePair();
afterAll(() => removeDir(p.dir));

function killAfter(args: string[], ms: number): Promise<{ killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('exit', (_code, signal) => {
      clearTimeout(timer);
      resolve({ killed: signal === 'SIGKILL' });
    });
  });
}

describe('crash during apply', () => {
  it(`converges on the target after ${TRIALS} SIGKILLs at random moments`, async () => {
    await initRemote(p);
    const N = 60;
    for (let i = 0; i < N; i++)
      writeDomain(p.prodLive, `d${i}`, {
        services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 1000 + i }],
        users: ['a', 'b', 'c'],
      });
    await cli(['record', '-c', p.primary]);
    const A = (await git(['rev-parse', 'main'], p.remote)).trim();
    for (let i = 0; i < N; i++) writeUser(p.prodLive, `d${i}`, 'a', { home: `/data/v2/${i}` });
    writeDomain(p.prodLive, 'extra', { users: ['x'] });
    await cli(['record', '-c', p.primary]);
    const B = (await git(['rev-parse', 'main'], p.remote)).trim();

    // The rendered targets, made by a standby that is never interrupted.
    const refCfg = join(p.dir, 'ref.yaml');
    const reference: Record<string, Record<string, string>> = {};
    for (const [name, rev] of [
      ['A', A],
      ['B', B],
    ] as const) {
      const live = join(p.dir, `ref-${name}`);
      writeFileSync(
        refCfg,
        readFileSync(p.standby, 'utf8')
          .replace(/fail-state/, `ref-state-${name}`)
          .replace(/dir: .*\/fail$/m, `dir: ${live}`),
      );
      const r = await cli(['sync', '-c', refCfg, '--to', rev]);
      expect(r.code, r.stderr).toBe(0);
      reference[rev] = snapshot(live);
    }
    expect(Object.keys(reference[B]!).length).toBeGreaterThan(N * 4);

    // How long a full apply takes here, to spread the kills over it.
    const t0 = Date.now();
    expect((await cli(['sync', '-c', p.standby, '--full', '--to', A])).code).toBe(0);
    const span = Date.now() - t0;

    let killed = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const target = trial % 2 === 0 ? B : A;
      const at = Math.floor(Math.random() * span);
      if ((await killAfter(['sync', '-c', p.standby, '--full', '--to', target], at)).killed) killed++;
      // Restart: whatever the kill interrupted is finished first (the journal's target), then the target.
      const again = await cli(['sync', '-c', p.standby, '--full', '--to', target]);
      expect(again.code, `trial ${trial} (kill at ${at}ms): ${again.stderr}`).toBe(0);
      expect(snapshot(p.failLive), `trial ${trial}: live dir equals the rendered target`).toEqual(reference[target]);
    }
    report({
      family: 'sync CLI SIGKILL during a full apply',
      tried: TRIALS,
      held: TRIALS,
      detail: `${killed} killed before they exited`,
    });
    expect(killed, 'most runs were really killed mid-way').toBeGreaterThanOrEqual(Math.ceil(TRIALS / 2));
  }, 300_000);
});

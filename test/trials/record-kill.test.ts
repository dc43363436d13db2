import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { loadNodeFile } from '../../src/config/load.js';
import { record } from '../../src/record/record.js';
import { git, initRemote, makePair, removeDir, writeDomain, writeUser } from '../helpers/fixture.js';
import { kill, report, sleep, startWorker, trials } from './trials.js';

/**
 * Family 2: the primary SIGKILLed at random moments of record (index, commit, push). Before each
 * trial one change is made in the live dir (a new user file); a worker records it and is killed;
 * the restart (one record) must leave every change made so far in the remote, each added by
 * exactly one commit. Odd trials kill the whole process group (git children too, leaving git's
 * own lock files behind), even ones only the node process (git children run on).
 */
const TRIALS = trials(8, 200);
const p = makePair();
let daemon: ChildProcess | undefined;
afterAll(() => {
  daemon?.kill('SIGKILL');
  removeDir(p.dir);
});

/**
 * The remote is served by `git daemon` (git://), as a real remote lives on another machine: with a
 * plain-path remote, git runs the remote's receive-pack inside the primary's process group, and a
 * group kill would also kill the "server" mid-push (leaving its ref lock), which no crash of the
 * primary can do to GitHub or an SSH server.
 */
async function serveRemote(): Promise<string> {
  const port = await new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const n = (s.address() as AddressInfo).port;
      s.close(() => resolve(n));
    });
  });
  daemon = spawn(
    'git',
    [
      'daemon',
      '--export-all',
      '--enable=receive-pack',
      `--base-path=${p.dir}`,
      '--listen=127.0.0.1',
      `--port=${port}`,
      '--reuseaddr',
    ],
    { stdio: 'ignore' },
  );
  const url = `git://127.0.0.1:${port}/remote.git`;
  for (let i = 0; i < 100; i++) {
    try {
      await git(['ls-remote', url]);
      return url;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('git daemon did not start');
}

describe('trials: primary killed during record and push', () => {
  it(`SIGKILL at random moments of ${TRIALS} records: every change in the remote exactly once`, async () => {
    await initRemote(p);
    const url = await serveRemote();
    writeFileSync(p.primary, readFileSync(p.primary, 'utf8').replace(`remote: ${p.remote}`, `remote: ${url}`));
    expect(readFileSync(p.primary, 'utf8')).toContain(url);
    for (let d = 0; d < 20; d++) writeDomain(p.prodLive, `d${d}`, { users: ['a', 'b'] });
    const cfg = loadNodeFile({ file: p.primary });
    expect((await record(cfg)).pushed).toBe(true);
    writeUser(p.prodLive, 'd0', 'warmup');
    const t0 = Date.now();
    expect((await record(cfg)).pushed).toBe(true);
    const span = Math.max(50, Date.now() - t0);

    let held = 0;
    let killedMidway = 0;
    const failures: string[] = [];
    for (let t = 0; t < TRIALS; t++) {
      writeUser(p.prodLive, `d${t % 20}`, `t${t}`, { note: `change ${t}` });
      const group = t % 2 === 1;
      const worker = await startWorker('record.mjs', [p.primary], { detached: group });
      const at = Math.floor(Math.random() * span * 1.2);
      await sleep(at);
      if (!worker.out().includes('done')) killedMidway++;
      await kill(worker.child, group);
      let error = '';
      try {
        const r = await record(cfg);
        if (r.pushError) error = r.pushError.message;
      } catch (err) {
        error = (err as Error).message;
      }
      // Every change so far is in the remote's head, and each file was added by exactly one commit.
      const files = new Set((await git(['ls-tree', '-r', '--name-only', 'main'], p.remote)).split('\n'));
      const missing = [...Array(t + 1).keys()].filter((i) => !files.has(`domains/d${i % 20}/users/t${i}.yaml`));
      const adds = (
        await git(
          ['log', '--format=%H', '--diff-filter=A', 'main', '--', `domains/d${t % 20}/users/t${t}.yaml`],
          p.remote,
        )
      )
        .trim()
        .split('\n')
        .filter(Boolean);
      if (!error && missing.length === 0 && adds.length === 1) held++;
      else
        failures.push(
          `trial ${t} (kill at ${at}ms${group ? ', process group' : ''}): ${error || `missing ${missing.join(',')}; added by ${adds.length} commits`}`,
        );
    }
    // History stays linear (one parent each): nothing was recorded twice on diverging branches.
    const merges = (await git(['rev-list', '--merges', '--count', 'main'], p.remote)).trim();
    const commits = Number((await git(['rev-list', '--count', 'main'], p.remote)).trim());
    report({
      family: 'primary SIGKILL during record/commit/push',
      tried: TRIALS,
      held,
      detail: `${killedMidway} killed before the record finished, half with their git children; kills spread over 0-${Math.floor(span * 1.2)}ms; remote history ${commits} commits, ${merges} merges`,
    });
    expect(failures).toEqual([]);
    expect(merges).toBe('0');
  }, 3_600_000);
});

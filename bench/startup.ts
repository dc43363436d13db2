import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { domainName, userName, userYaml } from './gen-repo.js';
import { BIN, benchPrimary, benchStandby, DIST_BENCH, mustRun, repoWithLive, run } from './proc.js';
import { fmtMs, fmtRatio, median, pairedRatio, table } from './stats.js';
import type { Summary } from './summary.js';
import { foldVerbs, readGitTrace, verbOf } from './git-trace.js';

/**
 * Start-up: whole CLI processes against git's, interleaved round by round, and the git processes
 * one change starts on each side (counted from git's own trace: GIT_TRACE2_EVENT, which the
 * node passes to every git it runs; a process without a parent sid is one gitfailover started).
 */
export async function startup(
  root: string,
  rounds: number,
  log: (s: string) => void,
  summary?: Summary,
): Promise<string> {
  const dir = join(root, 'startup');
  const n = 100;
  const { remote, prodLive } = await repoWithLive(dir, n);
  const pFile = benchPrimary(join(dir, 'primary.yaml'), remote, prodLive, join(dir, 'prod-state'));
  const sFile = benchStandby(join(dir, 'standby.yaml'), remote, join(dir, 'fail'), join(dir, 'fail-state'));
  const gf = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [BIN, ...args], { env });
  const must = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await gf(args, env);
    if (r.code !== 0)
      throw new Error(`bench: gitfailover ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(-2000)}`);
    return r;
  };
  await must(['record', '-c', pFile, '-m', 'bench start']);
  await must(['sync', '-c', sFile]);
  // The baseline's own remote and work tree: the same commit and push, done by git alone.
  const bRemote = join(dir, 'base-remote.git');
  await mustRun('git', ['clone', '-q', '--bare', remote, bRemote]);
  await mustRun('git', ['clone', '-q', bRemote, join(dir, 'base-work')]);
  const work = join(dir, 'base-work');

  const rows = new Map<string, number[]>();
  const add = (k: string, ms: number) => rows.set(k, [...(rows.get(k) ?? []), ms]);
  const unbundled = join(DIST_BENCH, 'child-cli.js');
  for (let i = 0; i < rounds; i++) {
    add('git', (await mustRun('git', ['--version'])).ms);
    add('node', (await mustRun(process.execPath, ['-e', '0'])).ms);
    add('version', (await must(['--version'])).ms);
    add('version-unbundled', (await mustRun(process.execPath, [unbundled, '--version'])).ms);
    add('status', (await must(['status', '-c', sFile, '--no-fetch', '--json'])).ms);
    add('status-unbundled', (await mustRun(process.execPath, [unbundled, 'status', '-c', sFile, '--no-fetch'])).ms);
    const d = domainName((i * 7) % n);
    const rel = `domains/${d}/users/${userName(4)}.yaml`;
    writeFileSync(join(prodLive, rel), userYaml(d, userName(4), 7000 + i));
    add('record', (await must(['record', '-c', pFile])).ms);
    writeFileSync(join(work, rel), userYaml(d, userName(4), 7000 + i));
    add(
      'base',
      (
        await mustRun('sh', [
          '-c',
          `cd ${work} && git add -A && git commit -q -m change && git push -q origin HEAD:main`,
        ])
      ).ms,
    );
  }
  const r = (k: string) => rows.get(k)!;
  log(
    `start-up: --version ${fmtMs(median(r('version')))}, status ${fmtMs(median(r('status')))}, record ${fmtMs(median(r('record')))}; git --version ${fmtMs(median(r('git')))}`,
  );

  // Process counts: one more change, recorded and synced with git's trace on. The standby first
  // catches up (untraced) with the rounds' commits, so the traced sync is a one-commit partial
  // sync, the case test/integration/process-count.test.ts budgets (a sync spanning many commits
  // also runs merge-base and log over them).
  await must(['sync', '-c', sFile]);
  const d = domainName(11);
  const rel = `domains/${d}/users/${userName(6)}.yaml`;
  writeFileSync(join(prodLive, rel), userYaml(d, userName(6), 8000));
  const recTrace = join(dir, 'record.trace');
  const syncTrace = join(dir, 'sync.trace');
  await must(['record', '-c', pFile], { GIT_TRACE2_EVENT: recTrace });
  const synced = await must(['sync', '-c', sFile], { GIT_TRACE2_EVENT: syncTrace });
  if (!/^partial sync/m.test(synced.stdout)) throw new Error(`bench: expected a partial sync: ${synced.stdout}`);
  const recorded = readGitTrace(recTrace).map((p) => p.argv);
  const applied = readGitTrace(syncTrace).map((p) => p.argv);
  const baseTrace = join(dir, 'base.trace');
  writeFileSync(join(work, rel), userYaml(d, userName(6), 8000));
  await mustRun('sh', ['-c', `cd ${work} && git add -A && git commit -q -m change && git push -q origin HEAD:main`], {
    env: { GIT_TRACE2_EVENT: baseTrace },
  });
  const base = readGitTrace(baseTrace).map((p) => p.argv);
  log(`git processes per change: record ${recorded.length}, partial sync ${applied.length}; git alone ${base.length}`);
  summary?.set('processes.record', {
    value: String(recorded.length),
    floor: `\`git add -A && git commit && git push\` ${base.length}`,
    ratio: recorded.length / base.length,
  });
  summary?.set('processes.partial', {
    value: String(applied.length),
    floor: 'see section 7 (no raw-git count; section 2 runs 5 in its raw-git script)',
  });

  const row = (what: string, k: string, base: string) => [
    what,
    fmtMs(median(r(k))),
    fmtMs(Math.min(...r(k))),
    fmtMs(Math.max(...r(k))),
    fmtRatio(pairedRatio(r(k), r(base))),
  ];
  return `## 7. Start-up and git processes per change

Whole processes from spawn to exit, ${rounds} rounds, each round running every row once in turn (${n} domains; the standby has the head applied). *Unbundled* is the same build run from \`dist/\` (the tsc output, lazy imports) instead of the esbuild bundle in \`dist/bundle/\` that \`bin/gitfailover.js\` runs. \`record\` commits one user file and pushes it to a bare remote on local disk; its baseline does the same with \`git add -A && git commit && git push\` in a work tree.

${table(
  ['what', 'median', 'min', 'max', 'vs baseline (paired)'],
  [
    row('`gitfailover --version`', 'version', 'git'),
    row('same, unbundled (`dist/cli/main.js`)', 'version-unbundled', 'git'),
    row('`gitfailover status --no-fetch --json`', 'status', 'git'),
    row('same, unbundled', 'status-unbundled', 'git'),
    row('`git --version` (baseline of the rows above)', 'git', 'git'),
    row('`node -e 0` (Node start-up alone)', 'node', 'git'),
    row('`gitfailover record`, one change, pushed', 'record', 'base'),
    row('`git add -A && git commit && git push` (baseline)', 'base', 'base'),
  ],
)}

Bundle against unbundled, paired: \`--version\` ${fmtRatio(pairedRatio(r('version'), r('version-unbundled')))}, \`status\` ${fmtRatio(pairedRatio(r('status'), r('status-unbundled')))}.

Git processes started for one one-user change (counted from GIT_TRACE2_EVENT; git's own children such as upload-pack and pack-objects not counted):

${table(
  ['side', 'git processes', 'which'],
  [
    ['`gitfailover record` (fetch, commit, push)', String(recorded.length), foldVerbs(recorded.map(verbOf))],
    [
      '`gitfailover sync`, partial, of one one-user commit (fetch, plan, read, apply)',
      String(applied.length),
      foldVerbs(applied.map(verbOf)),
    ],
    ['git alone: `add -A`, `commit`, `push`', String(base.length), foldVerbs(base.map(verbOf))],
  ],
)}`;
}

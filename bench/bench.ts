import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { gitBlobId } from '../src/model/tree-source.js';
import { commitUserChange, domainName, generateRepo, userName, userYaml } from './gen-repo.js';
import {
  benchPrimary,
  DIST_BENCH,
  freePort,
  mustRun,
  repoWithLive,
  ROOT,
  run,
  runJson,
  sleep,
  standbyFile,
  startDaemon,
  waitUntil,
} from './proc.js';
import { writeReport } from './report.js';
import { fmtMb, fmtMs, fmtRatio, median, pairedRatio, summarize, table, verdict } from './stats.js';
import { isoGitComparison } from './iso-compare.js';
import { startup } from './startup.js';
import { fanout } from './fanout.js';
import { memory, type SampledRuns } from './memory.js';
import { runJsonWithTreeRss, runWithTreeRss } from './tree-rss.js';
import { secretsBench } from './secrets.js';
import { takeover, writeTakeover } from './takeover.js';
import { Summary } from './summary.js';
import { breakdown, type ChangeWindow, readGitTrace } from './git-trace.js';

/**
 * `npm run bench [-- --quick] [-- --only a,b]`: gitfailover against raw git on this machine, in
 * this run. Every figure that matters is a ratio to a baseline measured in the same run, the two
 * interleaved (A B A B ...) so the other work on a shared machine moves both sides alike.
 * Everything happens in a fresh folder under /tmp, removed at the end; BENCHMARKS.md is
 * rewritten between its bench markers only.
 */
const quick = process.argv.includes('--quick');
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const only = onlyArg ? new Set(onlyArg.split(',')) : undefined;
const want = (s: string) => !only || only.has(s);
const keep = process.argv.includes('--keep');

const SIZES = quick ? [100, 1000] : [100, 1000, 10_000];
const BIG = SIZES[SIZES.length - 1]!;
const LATENCY_CHANGES = quick ? 20 : 100;
/** Polling mode: only its p50 is judged, and each change costs ~1 s with its baseline. */
const POLLING_CHANGES = quick ? 20 : 60;
const PARTIAL_ROUNDS = quick ? 3 : 15;
const SCALE_RUNS = Math.max(1, Number(process.argv.find((a) => a.startsWith('--scale-runs='))?.slice(13) ?? 1) || 1);
/** The paired 10,000-vs-100 ratio of each run of section 2, for the summary line. */
const scaleRatios: number[] = [];
const BURST = quick ? 20 : 50;
const RECORD_PAIRS = quick ? 5 : 15;
const STARTUP_ROUNDS = quick ? 5 : 10;
const FANOUT_CHANGES = quick ? 5 : 15;
const SECRET_ROUNDS = quick ? 3 : 9;

const root = mkdtempSync(join(tmpdir(), 'gfbench-'));
const sections: string[] = [];
const summary = new Summary();
const log = (s: string) => process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);

const PHASES = ['fetch', 'plan', 'read+check+render', 'apply', 'state'];
const fmtTimings = (t?: Record<string, number>) => (t ? PHASES.map((k) => `${k} ${fmtMs(t[k] ?? 0)}`).join(', ') : '');

interface SyncRun {
  ms: number;
  timings?: Record<string, number>;
  cpuMs?: number;
  sysMs?: number;
  maxRssKb: number;
  success: boolean;
  mode: string;
  domains: number;
  error?: string;
  wallMs: number;
  /** peak RSS of the process tree, when the run was sampled (tree-rss.ts) */
  treeRssKb?: number;
}

/**
 * Untimed, before each run of the full-sync section: write back what the previous run left dirty
 * (a floor or a full sync writes ~1-2 GB of small files), so that the next run does not pay for
 * the previous one's writeback (cold syncs measured 30-64 s in one run without it).
 */
async function settle(): Promise<void> {
  await mustRun('sync', []);
}

/** One sync in a process of its own; `sampled`: its process tree's memory sampled while it runs (section 9). */
async function childSync(file: string, full = false, sampled = false): Promise<SyncRun> {
  const args = [file, ...(full ? ['--full'] : [])];
  const r = sampled
    ? await runJsonWithTreeRss<SyncRun>('child-sync.js', args)
    : await runJson<SyncRun>('child-sync.js', args);
  if (!r.success) throw new Error(`bench: sync with ${file} failed: ${r.error}`);
  return r;
}

/**
 * `/usr/bin/time -f %M` around a shell command: wall ms and the peak RSS of its largest process;
 * `sampled`: also the peak of its whole process tree (tree-rss.ts).
 */
async function timedShell(
  script: string,
  sampled = false,
): Promise<{ ms: number; maxRssKb: number; treeRssKb?: number }> {
  const args = ['-f', '%M', 'sh', '-c', script];
  if (!sampled) {
    const r = await mustRun('/usr/bin/time', args);
    return { ms: r.ms, maxRssKb: Number(r.stderr.trim().split('\n').pop()) };
  }
  const r = await runWithTreeRss('/usr/bin/time', args);
  if (r.code !== 0) throw new Error(`bench: ${script} exited ${r.code}: ${r.stderr}`);
  return { ms: r.ms, maxRssKb: Number(r.stderr.trim().split('\n').pop()), treeRssKb: r.treeRssKb };
}

async function machine(): Promise<string> {
  const gitVersion = (await mustRun('git', ['--version'])).stdout.trim();
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return [
    `- date: ${new Date().toISOString()}${quick ? ' (**--quick run**: smaller sizes and fewer samples)' : ''}`,
    `- CPU: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores; memory ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Node ${process.version}, ${gitVersion}; load average at start ${load}`,
    `- every sync runs in a process of its own (\`dist-bench/bench/child-sync.js\`); its time is measured inside that process, Node's start-up excluded; peak RSS is its \`process.resourceUsage().maxRSS\` (the git processes it starts are not included)`,
  ].join('\n');
}

// ---- 2 + 3: scale and full sync -------------------------------------------------------------

const repos = new Map<number, string>();
/** Section 3's 10,000-domain runs, sampled for section 9 so that they are not run twice. */
let fullSyncTrees: SampledRuns | undefined;
/** The untimed warm-up floor's checkout of the biggest repo, when section 3 ran. */
let warmupClone: string | undefined;

/**
 * Generated repos kept between runs, keyed by the generator's own code (the content is
 * deterministic): generating 10,000 domains took 39 s on a quiet machine and minutes under load,
 * and a copy of its 32 MB pack takes well under a second. `--no-repo-cache` generates anew.
 */
const REPO_CACHE = join(tmpdir(), 'gitfailover-bench-repos');
const repoCacheKey = createHash('sha1')
  .update(readFileSync(join(DIST_BENCH, 'gen-repo.js')))
  .digest('hex')
  .slice(0, 12);
const useRepoCache = !process.argv.includes('--no-repo-cache');

async function generateOrCopy(gitDir: string, n: number): Promise<{ ms: number; how: string }> {
  const cached = join(REPO_CACHE, repoCacheKey, `remote-${n}.git`);
  const t0 = performance.now();
  if (useRepoCache && existsSync(join(cached, 'HEAD'))) {
    await mustRun('cp', ['-r', cached, gitDir]);
    return { ms: performance.now() - t0, how: 'copied from the cache of an earlier run' };
  }
  await generateRepo(gitDir, n);
  const ms = performance.now() - t0;
  if (useRepoCache) {
    // Copied whole, then renamed into place: a run stopped half-way leaves no half repo behind.
    const tmp = `${cached}.${process.pid}.tmp`;
    mkdirSync(join(REPO_CACHE, repoCacheKey), { recursive: true });
    await mustRun('cp', ['-r', gitDir, tmp]);
    await mustRun('mv', ['-T', tmp, cached]).catch(() => mustRun('rm', ['-rf', tmp]));
  }
  return { ms, how: 'generated' };
}

async function prepareRepos(): Promise<string> {
  const rows: string[][] = [];
  for (const n of SIZES) {
    const gitDir = join(root, `remote-${n}.git`);
    const { ms, how } = await generateOrCopy(gitDir, n);
    const files = (await mustRun('git', ['--git-dir', gitDir, 'ls-tree', '-r', '--name-only', 'main'])).stdout
      .split('\n')
      .filter(Boolean).length;
    const size = (await mustRun('du', ['-sk', gitDir])).stdout.split('\t')[0];
    repos.set(n, gitDir);
    rows.push([String(n), String(files), `${size} KB`, `${fmtMs(ms)} (${how})`]);
    log(`${how} ${n} domains (${files} files) in ${fmtMs(ms)}`);
  }
  return `Synthetic config repos (\`bench/gen-repo.ts\`: one \`git fast-import\` stream; each domain has domain.yaml, services.yaml with 3 services, and 20 users as one file per user; every file's content is unique; deterministic, so a run copies the repos an earlier run generated with the same generator from \`${REPO_CACHE}\` unless given \`--no-repo-cache\`):\n\n${table(['domains', 'files', 'packed repo', 'ready in'], rows)}`;
}

async function fullAndScale(): Promise<void> {
  // Every size gets a standby with the repo applied; the biggest one's first sync is the cold full sync.
  const standbys = new Map<number, string>();
  await timed('standbys of section 2 (first syncs below the biggest size)', async () => {
    for (const n of SIZES.filter((s) => s !== BIG)) {
      const f = standbyFile(join(root, `standby-${n}`), repos.get(n)!);
      await childSync(f);
      standbys.set(n, f);
    }
  });
  const big = repos.get(BIG)!;
  const bigFile = standbyFile(join(root, `standby-${BIG}`), big);
  standbys.set(BIG, bigFile);
  if (want('full')) await timed('3. full sync', () => fullSync(big, bigFile));
  else await childSync(bigFile); // `--only=scale`: the standby needs the repo applied, nothing more
  // `--scale-runs=N`: N consecutive measurements of section 2 on one set-up (the issue asks for
  // five in a row; generating and syncing 10,000 domains five times over would take most of the budget).
  await timed('2. scale', async () => {
    for (let run = 1; run <= SCALE_RUNS; run++) await partialScale(standbys, run);
  });
}

async function fullSync(big: string, bigFile: string): Promise<void> {
  // Interleaved (after one untimed floor run): floor, cold, parse floor, warm, floor, warm, cold.
  // Every floor and sync run here is also sampled for section 9 (the process tree's peak memory):
  // the 10,000-domain cold and warm syncs are measured once, not once per section.
  const floors: { ms: number; maxRssKb: number; treeRssKb?: number }[] = [];
  const warm: SyncRun[] = [];
  const floorRun = async (i: number) => {
    const w = join(root, `floor-${i}`);
    await settle();
    const r = await timedShell(
      `git clone -q --no-local ${big} ${w}/clone && mkdir -p ${w}/live && cp -r ${w}/clone/domains ${w}/clone/server.yaml ${w}/live/`,
      i >= 0,
    );
    // Nothing is deleted until the bench ends: removing 440,000 files here set off the disk's
    // discards, and the next run (floor or sync alike) then took 3-5x as long (a floor of 92 s
    // against 17 s, a cold sync of 64 s against 30 s in the same run).
    if (i < 0) {
      // Untimed warm-up: the first clone right after generating the repo ran into a cold page
      // cache (69.8 s, then 12.3 s for the same work), which made the paired ratio meaningless.
      // Its checkout is what section 5 validates (a clone of its own cost another ~10 s).
      warmupClone = `${w}/clone`;
      log(`floor warm-up (not counted) ${fmtMs(r.ms)}`);
      return;
    }
    floors.push(r);
    log(`floor (git clone --no-local + cp -r) ${fmtMs(r.ms)}`);
  };
  await floorRun(-1);
  await floorRun(0);
  const colds: SyncRun[] = [];
  const parses: { files: number; bytes: number; readMs: number; parseMs: number; maxRssKb: number }[] = [];
  // Each cold run is a standby of its own (nothing checked, nothing in its live dir); the first is
  // followed by the parse floor (information only since issue 23: one run).
  const coldRun = async (file: string, withParse: boolean) => {
    await settle();
    const cold = await childSync(file, false, true);
    colds.push(cold);
    log(`cold full sync ${fmtMs(cold.ms)} ${fmtMb(cold.maxRssKb)} ${fmtTimings(cold.timings)}`);
    if (!withParse) return;
    await settle();
    const parse = await runJson<{ files: number; bytes: number; readMs: number; parseMs: number; maxRssKb: number }>(
      'parse-floor.js',
      ['git', big, 'main'],
    );
    parses.push(parse);
    log(`parse floor ${fmtMs(parse.parseMs)} (read ${fmtMs(parse.readMs)})`);
  };
  await coldRun(bigFile, true);
  await settle();
  warm.push(await childSync(bigFile, true, true));
  log(`warm full sync ${fmtMs(warm[0]!.ms)} ${fmtTimings(warm[0]!.timings)}`);
  await floorRun(1);
  await settle();
  warm.push(await childSync(bigFile, true, true));
  log(`warm full sync ${fmtMs(warm[1]!.ms)} ${fmtTimings(warm[1]!.timings)}`);
  await coldRun(standbyFile(join(root, `standby-${BIG}-cold2`), big), false);
  const parse = parses[0]!;
  fullSyncTrees = {
    cold: colds.map((c) => ({ ms: c.ms, treeRssKb: c.treeRssKb ?? 0, maxRssKb: c.maxRssKb })),
    warm: warm.map((c) => ({ ms: c.ms, treeRssKb: c.treeRssKb ?? 0, maxRssKb: c.maxRssKb })),
    clone: floors.map((f) => ({ ms: f.ms, treeRssKb: f.treeRssKb ?? 0 })),
  };

  // The alternatives to YAML.parse, at 1,000 domains (at 10,000 each would cost a minute).
  const altN = SIZES.includes(1000) ? 1000 : SIZES[0]!;
  const alt = await runJson<Record<string, number>>('parse-floor.js', ['git', repos.get(altN)!, 'main', '--variants']);
  log(`parse variants at ${altN}: ${JSON.stringify(alt)}`);

  // Two pairs each: the goal is judged on the worse pair (a nearest-rank median of two is the
  // better one, which would flatter), and both values are shown.
  const both = (xs: number[]) => xs.map(fmtMs).join(', ');
  const worst = (a: number[], b: number[]) => Math.max(...a.map((x, i) => x / b[i]!));
  const warmRatio = worst(
    warm.map((w) => w.ms),
    floors.map((f) => f.ms),
  );
  const coldVsParse = colds[0]!.ms / parse.parseMs;
  // Issue 23: the cold full sync is judged against clone + copy (the parse floor stays as information).
  const coldVsFloor = worst(
    colds.map((c) => c.ms),
    floors.slice(0, colds.length).map((f) => f.ms),
  );
  summary.set('full.cold', {
    value: `${both(colds.map((c) => c.ms))} (${BIG.toLocaleString('en')} domains)`,
    floor: `\`git clone\` + \`cp -r\` ${both(floors.map((f) => f.ms))}`,
    ratio: coldVsFloor,
    goal: `${verdict(coldVsFloor, 1.5)}, worse pair`,
  });
  sections.push(`## 3. Full sync of ${BIG.toLocaleString('en')} domains

The standby's full sync (fetch everything, list, read every blob, check, render with IP substitution, build every domain in staging and swap it in, write state.json) against two floors measured in this run: **git floor** = \`git clone --no-local\` (pack transfer and checkout) + \`cp -r\` of the tree into a live dir; **parse floor** = \`YAML.parse\` of every YAML file of the commit (${parse.files} files, ${(parse.bytes / 2 ** 20).toFixed(1)} MB; reading them through one \`cat-file --batch\` took another ${fmtMs(parse.readMs)}, not counted).
Order: floor, cold, parse floor, warm, floor, warm, cold (a second standby); each cold and each warm run is paired with the floor run before it, and each goal is judged on the worse of its two pairs. Since issue 23 the cold goal is judged against the git floor, not the parse floor, and the parse floor runs once (information: the first cold run against it). *Warm* = a full sync (\`sync --full\`) of a standby that has checked this content before (the known-good blob list in stateDir).
Since this run's code checks and renders on worker threads (one per core) while it reads, and builds each domain in staging as soon as its files pass, the phases overlap; where the time went (the sync's own clock):

${table(
  ['run', ...PHASES, 'total', 'CPU, all threads (of which kernel)'],
  [...colds.map((c, i) => [`cold ${i + 1}`, c] as const), ...warm.map((w, i) => [`warm ${i + 1}`, w] as const)].map(
    ([name, r]) => [
      name,
      ...PHASES.map((k) => fmtMs(r.timings?.[k] ?? 0)),
      fmtMs(r.ms),
      r.cpuMs === undefined ? '' : `${fmtMs(r.cpuMs)} (${fmtMs(r.sysMs ?? 0)})`,
    ],
  ),
)}

${table(
  ['run', 'time', 'peak RSS', 'ratio', 'goal'],
  [
    [
      'cold full sync (nothing checked before; 2 runs)',
      both(colds.map((c) => c.ms)),
      fmtMb(Math.max(...colds.map((c) => c.maxRssKb))),
      `${fmtRatio(coldVsFloor)} git floor (worse pair); cold 1 ${fmtRatio(coldVsParse)} parse floor`,
      verdict(coldVsFloor, 1.5),
    ],
    [
      'warm full sync (2 runs)',
      both(warm.map((w) => w.ms)),
      fmtMb(Math.max(...warm.map((w) => w.maxRssKb))),
      `${fmtRatio(warmRatio)} git floor (worse pair)`,
      verdict(warmRatio, 2),
    ],
    [
      'git floor: clone + copy (2 runs)',
      both(floors.map((f) => f.ms)),
      fmtMb(Math.max(...floors.map((f) => f.maxRssKb))),
      '1.00x',
      '',
    ],
    ['parse floor: YAML.parse of every file, one thread (1 run)', fmtMs(parse.parseMs), fmtMb(parse.maxRssKb), '', ''],
  ],
)}

Parsers and worker threads, measured before choosing (${altN} domains, ${alt.files} files, one process, same run; all warmed up, then two rounds in turn, the faster round of each):

${table(
  ['way to check every file', 'time', 'vs YAML.parse'],
  [
    ['`YAML.parse` (no positions: the floor)', fmtMs(alt.parseMs!), '1.00x'],
    [
      '`parseDocument` (positions for error messages)',
      fmtMs(alt.parseDocumentMs!),
      fmtRatio(alt.parseDocumentMs! / alt.parseMs!),
    ],
    [
      '`parseConfigFile` (parseDocument + zod schema: the canonical check, and `validate`)',
      fmtMs(alt.parseConfigFileMs!),
      fmtRatio(alt.parseConfigFileMs! / alt.parseMs!),
    ],
    ['js-yaml 4 `load` (CORE_SCHEMA, no positions)', fmtMs(alt.jsyamlMs!), fmtRatio(alt.jsyamlMs! / alt.parseMs!)],
    [
      'the fast path, else `parseConfigFile` (what a sync checks with: src/model/fast-accept.ts)',
      fmtMs(alt.checkMs!),
      fmtRatio(alt.checkMs! / alt.parseMs!),
    ],
    [
      `\`YAML.parse\` split over ${alt.workers} worker threads (start-up and copying included)`,
      fmtMs(alt.workersMs!),
      fmtRatio(alt.workersMs! / alt.parseMs!),
    ],
  ],
)}`);
}

async function partialScale(standbys: Map<number, string>, run = 1): Promise<void> {
  const partial = new Map<number, SyncRun[]>(SIZES.map((n) => [n, []]));
  const raw = new Map<number, number[]>(SIZES.map((n) => [n, []]));
  // The raw-git baseline of the same work: a bare clone one commit behind fetches the commit
  // (fetch-pack + update-ref, what gitfailover runs), diffs it, and reads the changed blob.
  const rawScript = new Map<number, string>();
  for (const n of SIZES) {
    const g = join(root, `raw-${n}-${run}.git`);
    await mustRun('git', ['clone', '-q', '--bare', '--no-local', repos.get(n)!, g]);
    await mustRun('git', ['--git-dir', g, 'update-ref', 'refs/remotes/origin/main', 'refs/heads/main']);
    // Only the tracking ref, as in a standby's clone: the clone's own refs/heads/main would stay at
    // the first commit and be sent as a "have", and the remote's pack-objects then walks the tree of
    // every commit since (the baseline grew by ~3 ms a round at 10,000 domains for that alone).
    await mustRun('git', ['--git-dir', g, 'update-ref', '-d', 'refs/heads/main']);
    rawScript.set(
      n,
      `set -e; G=${g}; old=$(git --git-dir $G rev-parse refs/remotes/origin/main); new=$(git --git-dir $G fetch-pack --thin --no-progress ${repos.get(n)!} refs/heads/main | cut -d' ' -f1); ` +
        `git --git-dir $G update-ref refs/remotes/origin/main $new; git --git-dir $G diff-tree -r --raw $old $new | awk '{print $4}' | git --git-dir $G cat-file --batch >/dev/null`,
    );
  }
  for (let r = 1; r <= PARTIAL_ROUNDS; r++) {
    for (const n of SIZES) {
      const round = (run - 1) * PARTIAL_ROUNDS + r; // a new content every round of every run
      await commitUserChange(repos.get(n)!, (round * 37) % n, 1 + (round % 20), round);
      partial.get(n)!.push(await childSync(standbys.get(n)!));
      raw.get(n)!.push((await timedShell(rawScript.get(n)!)).ms);
    }
  }
  const base = partial.get(SIZES[0]!)!;
  const rawBase = raw.get(SIZES[0]!)!;
  const rows = SIZES.map((n) => {
    const runs = partial.get(n)!;
    const ratio = pairedRatio(
      runs.map((x) => x.ms),
      base.map((x) => x.ms),
    );
    return [
      n.toLocaleString('en'),
      fmtMs(median(runs.map((x) => x.ms))),
      fmtMs(Math.min(...runs.map((x) => x.ms))),
      fmtMs(Math.max(...runs.map((x) => x.ms))),
      fmtMb(median(runs.map((x) => x.maxRssKb))),
      fmtRatio(ratio),
      n === BIG ? verdict(ratio, 1.3) : '',
      fmtMs(median(raw.get(n)!)),
      fmtRatio(pairedRatio(raw.get(n)!, rawBase)),
    ];
  });
  const bigRuns = partial.get(BIG)!.map((x) => x.ms);
  const bigRatio = pairedRatio(
    bigRuns,
    base.map((x) => x.ms),
  );
  scaleRatios.push(bigRatio);
  log(`scale run ${run}: ${BIG} vs ${SIZES[0]} domains ${fmtRatio(bigRatio)}`);
  summary.set('scale.partial', {
    value: `${fmtMs(median(bigRuns))} vs ${fmtMs(median(base.map((x) => x.ms)))}`,
    floor: `raw git ${fmtMs(median(raw.get(BIG)!))} vs ${fmtMs(median(rawBase))}`,
    ratio: bigRatio,
    goal:
      scaleRatios.length > 1
        ? `${scaleRatios.every((r) => r <= 1.3) ? 'met' : 'MISSED'} (<= 1.3x in each of ${scaleRatios.length} runs: ${scaleRatios.map(fmtRatio).join(', ')})`
        : verdict(bigRatio, 1.3),
  });
  const phaseRows = SIZES.map((n) => [
    n.toLocaleString('en'),
    ...PHASES.map((k) => fmtMs(median(partial.get(n)!.map((x) => x.timings?.[k] ?? 0)))),
  ]);
  sections.splice(
    want('full') ? sections.length - 1 : sections.length,
    0,
    `## 2. Scale: a one-user partial sync${SCALE_RUNS > 1 ? ` (run ${run} of ${SCALE_RUNS})` : ''}
${SCALE_RUNS > 1 && run === SCALE_RUNS ? `\n${SCALE_RUNS} consecutive runs of this section on one set-up (\`--scale-runs=${SCALE_RUNS}\`), ${BIG.toLocaleString('en')} vs ${SIZES[0]} domains, paired: ${scaleRatios.map(fmtRatio).join(', ')}; goal <= 1.3x in every run: ${scaleRatios.every((r) => r <= 1.3) ? 'met' : 'not met'}.\n` : ''}
One commit changing one user file, fetched and applied by a standby that has the previous commit applied (${PARTIAL_ROUNDS} rounds; each round syncs every size in turn, so the ratio is taken round by round). **Raw git** is the same work done by a shell script in the same round: \`git fetch-pack\` of the commit into a bare clone one commit behind, \`update-ref\`, \`diff-tree\`, and \`cat-file\` of the changed blob (its time includes the shell's start-up). Its own growth from ${SIZES[0]} to ${BIG.toLocaleString('en')} domains is git's cost of a flat \`domains/\` tree of ${BIG.toLocaleString('en')} entries, which every one-file commit rewrites.

${table(['domains', 'median', 'min', 'max', 'peak RSS', `vs ${SIZES[0]} (paired)`, 'goal', 'raw git median', `raw git vs ${SIZES[0]}`], rows)}

Median time of each phase (the sync's own clock):

${table(['domains', ...PHASES], phaseRows)}`,
  );
}

// ---- 1: latency ---------------------------------------------------------------------------

async function latency(): Promise<void> {
  const dir = join(root, 'latency');
  const n = 100;
  let latencyBreakdown = '';
  const remote = join(dir, 'remote.git');
  mkdirSync(dir, { recursive: true });
  await generateRepo(remote, n);
  const prodLive = join(dir, 'prod');
  await mustRun('git', ['clone', '-q', remote, join(dir, 'prod-clone')]);
  await mustRun('sh', [
    '-c',
    `mkdir -p ${prodLive} && cp -r ${dir}/prod-clone/domains ${dir}/prod-clone/server.yaml ${prodLive}/`,
  ]);
  // The baseline's own remote, primary work tree and standby clone.
  const bRemote = join(dir, 'base-remote.git');
  await mustRun('git', ['clone', '-q', '--bare', remote, bRemote]);
  await mustRun('git', ['clone', '-q', bRemote, join(dir, 'base-prod')]);
  await mustRun('git', ['clone', '-q', '--bare', bRemote, join(dir, 'base-standby.git')]);
  mkdirSync(join(dir, 'base-live'), { recursive: true });
  const baseScript = join(dir, 'baseline.sh');
  // The raw floor of one change: commit + push on one side, fetch + write the changed file on the other.
  writeFileSync(
    baseScript,
    `set -e
cd ${dir}/base-prod
printf '%s' "$2" > "$1"
git commit -q -m change -- "$1"
git push -q origin HEAD:main
cd ${dir}/base-standby.git
git fetch -q origin +main:main
git cat-file blob "main:$1" > ${dir}/base-live/changed.yaml
`,
  );

  const secret = 'bench-secret-0123456789abcdef';
  const env = { BENCH_NOTIFY_SECRET: secret };
  const rows: string[][] = [];
  for (const mode of ['notify', 'polling'] as const) {
    const port = await freePort();
    const sDir = join(dir, `standby-${mode}`);
    rmSync(sDir, { recursive: true, force: true });
    const sFile = standbyFile(sDir, remote, {
      node: `standby-${mode}`,
      sync: { automatic: true, interval: mode === 'notify' ? '1h' : '250ms' },
      notify: { listen: `127.0.0.1:${port}`, secret: 'env:BENCH_NOTIFY_SECRET' },
    });
    const pFile = join(dir, 'primary.yaml');
    writeFileSync(
      pFile,
      stringify({
        node: 'bench-primary',
        role: 'primary',
        repo: { remote, branch: 'main', stateDir: join(dir, 'prod-state') },
        live: { dir: prodLive },
        record: { debounce: '0ms' },
        notify:
          mode === 'notify'
            ? { standbys: [`http://127.0.0.1:${port}/notify`], secret: 'env:BENCH_NOTIFY_SECRET', heartbeat: '0ms' }
            : {},
      }),
    );
    // git's own trace of each daemon, in the notify run: processes per change and where the time goes.
    const traces = { primary: join(dir, `primary-${mode}.trace`), standby: join(dir, `standby-${mode}.trace`) };
    const traced = (file: string) => (mode === 'notify' ? { ...env, GIT_TRACE2_EVENT: file } : env);
    const standby = await startDaemon(['standby', '-c', sFile], /standby ready/, traced(traces.standby));
    const primary = await startDaemon(['primary', '-c', pFile], /ready: watching/, traced(traces.primary));
    try {
      const remoteHead = async () => (await run('git', ['--git-dir', remote, 'rev-parse', 'main'])).stdout.trim();
      const applied = () => {
        try {
          return (JSON.parse(readFileSync(join(sDir, 'state', 'state.json'), 'utf8')) as { appliedCommit?: string })
            .appliedCommit;
        } catch {
          return undefined;
        }
      };
      // Settle: the primary's first record (its stamp) must reach the standby before timing starts.
      await sleep(1500);
      const head = await remoteHead();
      await waitUntil('the standby to catch up', () => applied() === head, 180_000, 50);
      const gf: number[] = [];
      const raw: number[] = [];
      const windows: ChangeWindow[] = [];
      const rel = `domains/${domainName(7)}/users/${userName(3)}.yaml`;
      const changes = mode === 'notify' ? LATENCY_CHANGES : POLLING_CHANGES;
      for (let i = 1; i <= changes; i++) {
        const text = userYaml(domainName(7), `${userName(3)}`, i + (mode === 'polling' ? 100_000 : 0));
        const target = join(sDir, 'live', rel);
        const t0 = performance.now();
        const wall0 = Date.now();
        writeFileSync(join(prodLive, rel), text);
        const t1 = await waitUntil(`change ${i} on the standby`, () => {
          try {
            return readFileSync(target, 'utf8') === text;
          } catch {
            return false;
          }
        });
        gf.push(t1 - t0);
        windows.push({ t0: wall0, t1: wall0 + (t1 - t0) });
        // The baseline after every second change: half the samples, the same interleaving.
        if (i % 2 === 0) raw.push((await mustRun('sh', [baseScript, rel, text])).ms);
      }
      const s = summarize(gf);
      const b = summarize(raw);
      rows.push([
        `gitfailover, ${mode === 'notify' ? 'notify on' : 'polling only (interval 250ms)'}`,
        fmtMs(s.p50),
        fmtMs(s.p95),
        fmtMs(s.p99),
        fmtMs(s.max),
        fmtRatio(s.p50 / b.p50),
      ]);
      rows.push([
        `raw git baseline (interleaved with the ${mode} run)`,
        fmtMs(b.p50),
        fmtMs(b.p95),
        fmtMs(b.p99),
        fmtMs(b.max),
        '1.00x',
      ]);
      const floor = (v: number) => `raw git ${fmtMs(v)}`;
      if (mode === 'notify') {
        summary.set('latency.notify.p50', {
          value: fmtMs(s.p50),
          floor: floor(b.p50),
          ratio: s.p50 / b.p50,
          goal: verdict(s.p50 / b.p50, 1.5),
        });
        summary.set('latency.notify.p99', {
          value: fmtMs(s.p99),
          floor: floor(b.p99),
          ratio: s.p99 / b.p99,
          goal: verdict(s.p99 / b.p99, 1.5),
        });
      } else {
        // The goal allows half the polling interval on top of 1.5x the floor.
        const met = s.p50 <= 1.5 * b.p50 + 125;
        summary.set('latency.polling.p50', {
          value: fmtMs(s.p50),
          floor: floor(b.p50),
          ratio: s.p50 / b.p50,
          goal: `${met ? 'met' : 'MISSED'} (<= 1.5x + 125 ms)`,
        });
      }
      if (mode === 'notify') {
        const b = breakdown(windows, readGitTrace(traces.primary), readGitTrace(traces.standby));
        latencyBreakdown = b.text;
        log(`latency processes per change: primary ${b.primaryPerChange}, standby ${b.standbyPerChange}`);
      }
      log(`latency ${mode}: p50 ${fmtMs(s.p50)} p95 ${fmtMs(s.p95)} p99 ${fmtMs(s.p99)}; baseline p50 ${fmtMs(b.p50)}`);
    } finally {
      await primary.stop();
      await standby.stop();
    }
  }
  sections.push(`## 1. Latency: recorded on the primary, applied on the standby

Both daemons run as real processes (\`gitfailover primary\`, \`gitfailover standby\`, from \`bin/\`) on loopback, ${n} domains, a bare remote on local disk. Primary \`record.debounce: 0ms\`. One change at a time (a user file rewritten in the primary's live dir), ${LATENCY_CHANGES} changes with notify and ${POLLING_CHANGES} polling only (whose p50 alone is judged; fewer since issue 23's third round, to keep the whole bench under 15 minutes); the clock runs from the write to the moment the standby's live dir holds the new bytes (polled every 2 ms). Every second change is followed by one run of the baseline, a shell script doing \`git commit\` + \`git push\` on one clone, \`git fetch\` + writing the changed file (\`git cat-file\`) on another.

${table(['what', 'p50', 'p95', 'p99', 'max', 'p50 vs baseline'], rows)}

${latencyBreakdown}`);
}

// ---- 4: primary throughput ------------------------------------------------------------------

async function throughput(): Promise<void> {
  const dir = join(root, 'throughput');
  const n = 1000;
  // The shared 1,000-domain repo when this run generated it (a bare copy: this section commits to it).
  const { remote, prodLive } = await repoWithLive(dir, n, 'work', repos.get(n));
  const pFile = join(dir, 'primary.yaml');
  const writePrimary = (debounce: string) =>
    benchPrimary(pFile, remote, prodLive, join(dir, 'prod-state'), { record: { debounce } });
  // A first record outside the timing: the primary's stamp and its private index.
  writePrimary('0ms');
  await mustRun(process.execPath, [join(ROOT, 'bin', 'gitfailover.js'), 'record', '-c', pFile, '-m', 'bench start']);

  const rows: string[][] = [];
  let round = 0;
  for (const debounce of ['0ms', '500ms']) {
    writePrimary(debounce);
    const primary = await startDaemon(['primary', '-c', pFile], /ready: watching/, {});
    try {
      round += 1;
      const changes = Array.from({ length: BURST }, (_, i) => {
        const d = domainName((i * 13 + round) % n);
        const rel = `domains/${d}/users/${userName(1 + (i % 20))}.yaml`;
        return { rel, text: userYaml(d, userName(1 + (i % 20)), 1000 * round + i) };
      });
      const before = Number((await mustRun('git', ['--git-dir', remote, 'rev-list', '--count', 'main'])).stdout.trim());
      const t0 = performance.now();
      for (const c of changes) writeFileSync(join(prodLive, c.rel), c.text);
      const want = new Map(changes.map((c) => [c.rel, gitBlobId(Buffer.from(c.text))]));
      const t1 = await waitUntil(
        'the burst on the remote',
        async () => {
          const ls = await run('git', ['--git-dir', remote, 'ls-tree', 'main', '--', ...want.keys()]);
          const got = new Map(
            ls.stdout
              .split('\n')
              .filter(Boolean)
              .map((l) => [l.slice(l.indexOf('\t') + 1), l.split(/\s+/)[2]]),
          );
          return [...want].every(([p, id]) => got.get(p) === id);
        },
        120_000,
        20,
      );
      const commits =
        Number((await mustRun('git', ['--git-dir', remote, 'rev-list', '--count', 'main'])).stdout.trim()) - before;
      const secs = (t1 - t0) / 1000;
      rows.push([
        `primary daemon, debounce ${debounce === '0ms' ? 'off (0ms)' : 'on (500ms)'}`,
        `${BURST} in ${fmtMs(t1 - t0)}`,
        String(commits),
        (BURST / secs).toFixed(1),
      ]);
      log(`burst debounce ${debounce}: ${BURST} changes in ${fmtMs(t1 - t0)}, ${commits} commits`);
    } finally {
      await primary.stop();
    }
  }

  // One commit per change, paired: gitfailover record (no push) against git add + git commit.
  const gfMs: number[] = [];
  const rawMs: number[] = [];
  const work = join(dir, 'work');
  for (let i = 0; i < RECORD_PAIRS; i++) {
    const d = domainName((i * 7) % n);
    const rel = `domains/${d}/users/${userName(5)}.yaml`;
    writeFileSync(join(prodLive, rel), userYaml(d, userName(5), 5000 + i));
    gfMs.push((await mustRun(process.execPath, [join(DIST_BENCH, 'child-record.js'), pFile])).ms);
    writeFileSync(join(work, rel), userYaml(d, userName(5), 5000 + i));
    rawMs.push((await mustRun('sh', ['-c', `cd ${work} && git add -A && git commit -q -m change`])).ms);
  }
  const recordMs = median(gfMs);
  const recordRatio = pairedRatio(gfMs, rawMs);
  summary.set('record.process', {
    value: fmtMs(recordMs),
    floor: `\`git add -A && git commit\` ${fmtMs(median(rawMs))}`,
    ratio: recordRatio,
    goal: verdict(recordRatio, 2),
  });
  const child = await runJson<{ ms: number[] }>('child-record.js', [pFile, '--inproc', String(RECORD_PAIRS)], {}).catch(
    () => undefined,
  );
  rows.push([
    `\`gitfailover record\` process, one change each (median of ${RECORD_PAIRS})`,
    fmtMs(recordMs),
    String(RECORD_PAIRS),
    (1000 / recordMs).toFixed(1),
  ]);
  if (child)
    rows.push([
      `\`record()\` in a running process (what the daemon calls), one change each`,
      fmtMs(median(child.ms)),
      String(child.ms.length),
      (1000 / median(child.ms)).toFixed(1),
    ]);
  rows.push([
    `baseline: \`git add -A\` + \`git commit\` in a work tree, one change each (interleaved)`,
    fmtMs(median(rawMs)),
    String(RECORD_PAIRS),
    (1000 / median(rawMs)).toFixed(1),
  ]);
  sections.push(`## 4. Primary throughput

${n.toLocaleString('en')} domains. A burst of ${BURST} one-user changes written as fast as the bench can, to the primary daemon; timed until the remote holds all of them (recorded *and* pushed; no standby to notify). Then one commit per change, each side ${RECORD_PAIRS} times, interleaved: \`gitfailover record\` without push (a process of its own) against \`git add -A\` + \`git commit\`.

${table(['what', 'time', 'commits', 'changes/s'], rows)}

Paired ratio, record process / (git add + git commit): **${fmtRatio(recordRatio)}**.`);
}

// ---- 5: validate ------------------------------------------------------------------------------

async function validate(): Promise<void> {
  let dir = warmupClone;
  if (!dir) {
    dir = join(root, 'validate');
    await mustRun('git', ['clone', '-q', repos.get(BIG)!, dir]);
  }
  const v: number[] = [];
  const p: number[] = [];
  const rounds = quick ? 2 : 1;
  let code = 0;
  let parseRss = 0;
  for (let i = 0; i < rounds; i++) {
    await settle();
    const r = await run(process.execPath, [join(ROOT, 'bin', 'gitfailover.js'), 'validate', dir, '--format', 'json']);
    code = r.code;
    v.push(r.ms);
    const f = await runJson<{ maxRssKb: number }>('parse-floor.js', ['dir', dir]);
    p.push(f.wallMs);
    parseRss = f.maxRssKb;
  }
  log(`validate ${fmtMs(median(v))} (exit ${code}); parse floor ${fmtMs(median(p))}`);
  sections.push(`## 5. \`validate\` on ${BIG.toLocaleString('en')} domains

Whole processes, interleaved (${rounds} each): \`gitfailover validate DIR --format json\` (exit ${code}) against a Node process that reads every YAML file of DIR and \`YAML.parse\`s it.

${table(
  ['what', 'time', 'ratio'],
  [
    ['`gitfailover validate`', fmtMs(median(v)), fmtRatio(pairedRatio(v, p))],
    [`parse floor (read + YAML.parse every file; peak RSS ${fmtMb(parseRss)})`, fmtMs(median(p)), '1.00x'],
  ],
)}`);
}

/** Wall time of each section of this run, in the order they ran, for the report. */
const sectionTimes: [string, number][] = [];

async function timed(name: string, section: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await section();
  } finally {
    const ms = performance.now() - t0;
    sectionTimes.push([name, ms]);
    log(`section ${name}: ${fmtMs(ms)}`);
  }
}

function timesTable(total: number): string {
  return `Where this run's ${fmtMs(total)} went (wall time of each part, in the order they ran; \`npm run bench\` builds before it, and the bench folder is deleted after the report by a detached low-priority \`rm -rf\`, which the command does not wait for):

${table(
  ['part', 'wall time', 'share'],
  sectionTimes.map(([name, ms]) => [name, fmtMs(ms), `${((100 * ms) / total).toFixed(0)} %`]),
)}`;
}

/**
 * Delete the bench folder (~1,000,000 files after a whole run: minutes on this disk) in a detached
 * process at low priority, so the command exits when the report is written.
 */
function removeRoot(): void {
  if (keep) return;
  const rm = ['nice', '-n', '19', 'rm', '-rf', root];
  const argv = existsSync('/usr/bin/ionice') ? ['ionice', '-c', '2', '-n', '7', ...rm] : rm;
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' });
  child.on('error', () => rmSync(root, { recursive: true, force: true }));
  child.unref();
}

async function main(): Promise<void> {
  const t0 = performance.now();
  log(`bench in ${root}${quick ? ' (quick)' : ''}`);
  const head = await machine();
  try {
    let repoTable = '';
    if (want('scale') || want('full') || want('validate') || want('iso') || want('memory'))
      await timed('generating the repos', async () => {
        repoTable = await prepareRepos();
      });
    if (want('scale') || want('full')) await fullAndScale();
    if (want('validate')) await timed('5. validate', validate);
    if (want('latency')) await timed('1. latency', latency);
    if (want('throughput')) await timed('4. throughput', throughput);
    const add = (name: string, section: () => Promise<string>) =>
      timed(name, async () => {
        sections.push(await section());
      });
    if (want('iso')) await add('git CLI vs isomorphic-git', () => isoGitComparison(root, repos, log));
    if (want('startup')) await add('7. start-up', () => startup(root, STARTUP_ROUNDS, log, summary));
    if (want('fanout')) await add('8. fan-out', () => fanout(root, FANOUT_CHANGES, log));
    const reuse = new Map(fullSyncTrees ? [[BIG, fullSyncTrees] as const] : []);
    if (want('memory'))
      await add('9. memory', () => memory(root, repos, [...new Set([1000, BIG])], log, summary, reuse));
    if (want('secrets')) await add('6. secrets', () => secretsBench(root, SECRET_ROUNDS, log));
    // Root, network namespaces and keepalived: only when asked for by name; it has its own markers.
    if (only?.has('takeover'))
      await timed('takeover', async () =>
        writeTakeover(join(ROOT, 'BENCHMARKS.md'), await takeover({ kills: quick ? 5 : 20, advertInt: 0.1, log })),
      );
    const total = performance.now() - t0;
    const findings = readFileSync(join(ROOT, 'bench', 'findings.md'), 'utf8');
    const body = `# Benchmarks

Written by \`npm run bench\` (${fmtMs(total)} for this run). Figures are medians unless named; ratios are to a baseline measured in the same run.

${summary.render(want)}

${head}

${timesTable(total)}

${repoTable}

${sections.join('\n\n')}

${findings}`;
    if (!only) writeReport(join(ROOT, 'BENCHMARKS.md'), body);
    else writeFileSync(join(tmpdir(), 'gfbench-partial.md'), body);
    log(
      `done in ${fmtMs(total)}${only ? ` (partial run: report in ${join(tmpdir(), 'gfbench-partial.md')})` : '; BENCHMARKS.md rewritten'}`,
    );
  } finally {
    removeRoot();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

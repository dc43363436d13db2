import { existsSync, readFileSync } from 'node:fs';
import { fmtMs, median, table } from './stats.js';

/**
 * Where one change's time goes, read from git's own trace (GIT_TRACE2_EVENT) of both daemons:
 * every top-level git process with its start and exit on the wall clock, so the gaps between
 * them (Node's own work, the watch, the notify's HTTP hop) show up beside git's share.
 */
export interface GitProc {
  verb: string;
  argv: string[];
  start: number;
  end: number;
}

/** The top-level git processes of a GIT_TRACE2_EVENT file (git's own children, such as upload-pack, left out). */
export function readGitTrace(file: string): GitProc[] {
  if (!existsSync(file)) return [];
  const bySid = new Map<string, GitProc>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    let e: { event: string; sid: string; time: string; argv?: string[] };
    try {
      e = JSON.parse(line);
    } catch {
      continue; // a line cut by a process killed mid-write
    }
    if (e.sid.includes('/')) continue;
    const t = Date.parse(e.time);
    if (e.event === 'start') {
      const argv = (e.argv ?? []).slice(1);
      bySid.set(e.sid, { verb: verbOf(argv), argv, start: t, end: Number.POSITIVE_INFINITY });
    } else if (e.event === 'exit') {
      const p = bySid.get(e.sid);
      if (p) p.end = t;
    }
  }
  return [...bySid.values()].sort((a, b) => a.start - b.start);
}

/** The git subcommand of an argv (after `-c k=v`, `--git-dir X` and the like). */
export function verbOf(argv: readonly string[]): string {
  let i = 0;
  while (i < argv.length && argv[i]!.startsWith('-'))
    i += ['--git-dir', '--work-tree', '-c', '-C'].includes(argv[i]!) ? 2 : 1;
  return argv[i] ?? '?';
}

/** `rev-parse x2, fetch-pack, ...`: the verbs in order, repeats folded. */
export function foldVerbs(verbs: readonly string[]): string {
  const out: string[] = [];
  for (let i = 0; i < verbs.length; ) {
    let j = i;
    while (j < verbs.length && verbs[j] === verbs[i]) j++;
    out.push(j - i > 1 ? `${verbs[i]} x${j - i}` : verbs[i]!);
    i = j;
  }
  return out.join(', ');
}

export interface ChangeWindow {
  /** The write into the primary's live dir (epoch ms). */
  t0: number;
  /** The new bytes seen in the standby's live dir (epoch ms). */
  t1: number;
}

interface Marks {
  primaryStart: number;
  fetched: number;
  admitted: number;
  committed: number;
  pushed: number;
  standbyStart: number;
  standbyFetched: number;
  applied: number;
}

const PHASES: { name: string; from: keyof Marks | 't0'; to: keyof Marks; what: string }[] = [
  {
    name: 'primary: notice',
    from: 't0',
    to: 'primaryStart',
    what: 'the watch event, the debounce, the queue, until its first git process',
  },
  {
    name: 'primary: fetch',
    from: 'primaryStart',
    to: 'fetched',
    what: 'the fetch that notices another writer (and the refs read with it)',
  },
  {
    name: 'primary: admission',
    from: 'fetched',
    to: 'admitted',
    what: 'the live dir scanned (`ls-files`) and the admission rules, until `git add`',
  },
  {
    name: 'primary: index + commit',
    from: 'admitted',
    to: 'committed',
    what: '`add`, `write-tree`, the diff, the commit, the ref, until the push starts',
  },
  { name: 'primary: push', from: 'committed', to: 'pushed', what: '`git push` itself' },
  {
    name: 'notify -> standby',
    from: 'pushed',
    to: 'standbyStart',
    what: 'the signed HTTP notify and the standby starting its sync',
  },
  {
    name: 'standby: fetch',
    from: 'standbyStart',
    to: 'standbyFetched',
    what: '`fetch-pack` (the tracking ref then moves on the kept-open `update-ref`: no process)',
  },
  {
    name: 'standby: plan, read, check + apply',
    from: 'standbyFetched',
    to: 'applied',
    what: 'history check, commit list, the tree diff, the changed domain read, check, render, write into the live dir (state is written after); all on the kept-open `cat-file` and in Node: no git process starts, so no mark divides it',
  },
];

function marksOf(w: ChangeWindow, primary: GitProc[], standby: GitProc[]): Marks | undefined {
  const p = primary.filter((g) => g.start >= w.t0 && g.start <= w.t1);
  const s = standby.filter((g) => g.start >= w.t0 && g.start <= w.t1);
  const push = p.find((g) => g.verb === 'push');
  const add = p.find((g) => g.verb === 'add');
  const fetch = p.find((g) => g.verb === 'fetch-pack' || g.verb === 'fetch');
  if (!push || !add || !fetch || s.length === 0) return undefined;
  const sFetch = s.find((g) => g.verb === 'fetch-pack' || g.verb === 'fetch');
  if (!sFetch) return undefined;
  // Whatever git process the standby starts after its fetch (update-ref, diff-tree in older builds) counts in the fetch.
  const afterFetch = s.filter((g) => g.start >= sFetch.end && g.verb === 'update-ref');
  return {
    primaryStart: p[0]!.start,
    fetched: fetch.end,
    admitted: add.start,
    committed: push.start,
    pushed: push.end,
    standbyStart: s[0]!.start,
    standbyFetched: afterFetch[0]?.end ?? sFetch.end,
    applied: w.t1,
  };
}

export interface Breakdown {
  /** Markdown: the phase table and the process-count table. */
  text: string;
  primaryPerChange: number;
  standbyPerChange: number;
}

/**
 * The phase table (median of each phase over the changes whose trace holds every mark) and the
 * git processes per change on each side (those started between the write and the apply).
 */
export function breakdown(windows: readonly ChangeWindow[], primary: GitProc[], standby: GitProc[]): Breakdown {
  const marks = windows.map((w) => ({ w, m: marksOf(w, primary, standby) }));
  const rows = PHASES.map((ph) => {
    const xs = marks.flatMap(({ w, m }) => (m ? [m[ph.to] - (ph.from === 't0' ? w.t0 : m[ph.from])] : []));
    return [ph.name, xs.length ? fmtMs(median(xs)) : 'n/a', ph.what];
  });
  const total = marks.map(({ w }) => w.t1 - w.t0);
  rows.push(['total (write -> bytes on the standby)', fmtMs(median(total)), '']);
  const inWindow = (list: GitProc[], w: ChangeWindow) => list.filter((g) => g.start >= w.t0 && g.start <= w.t1);
  const pCounts = windows.map((w) => inWindow(primary, w).length);
  const sCounts = windows.map((w) => inWindow(standby, w).length);
  // The verbs of the change with the median count: what a typical change starts.
  const typical = (list: GitProc[], counts: number[]) => {
    const m = median(counts);
    const i = counts.indexOf(m);
    const w = windows[Math.max(i, 0)];
    return w ? foldVerbs(inWindow(list, w).map((g) => g.verb)) : '';
  };
  const used = marks.filter((x) => x.m).length;
  const text = `Where the time of one change goes (median over the ${used} of ${windows.length} changes whose trace holds every mark; from git's own trace, GIT_TRACE2_EVENT, of both daemons: each phase ends at the start or exit of a git process, so Node's work between two processes counts in the phase it precedes):

${table(['phase', 'p50', 'what'], rows)}

Git processes started per change (between the write and the bytes on the standby; median over ${windows.length} changes):

${table(
  ['side', 'git processes', 'which (a typical change)'],
  [
    ['primary daemon (notice, fetch, record, push)', String(median(pCounts)), typical(primary, pCounts)],
    ['standby daemon (fetch, plan, read, apply)', String(median(sCounts)), typical(standby, sCounts)],
  ],
)}`;
  return { text, primaryPerChange: median(pCounts), standbyPerChange: median(sCounts) };
}

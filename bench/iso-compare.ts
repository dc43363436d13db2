import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { BlobReader } from '../src/repo/blob-reader.js';
import { git } from '../src/repo/git.js';
import { parseRawDiff } from '../src/repo/node-repo.js';
import { fmtMs, fmtRatio, median, table } from './stats.js';

/**
 * git CLI against isomorphic-git for the two reads a standby does on every sync: the tree diff
 * between the applied and the target commit, and reading blobs. Both sides read the same bare
 * repo (packed by fast-import), interleaved. isomorphic-git is a dev dependency used here only.
 */
type Iso = typeof import('isomorphic-git');

async function isoDiff(iso: Iso, gitdir: string, cache: object, a: string, b: string, prefix = ''): Promise<string[]> {
  const [ta, tb] = await Promise.all([
    iso.readTree({ fs, gitdir, oid: a, cache }),
    iso.readTree({ fs, gitdir, oid: b, cache }),
  ]);
  const left = new Map(ta.tree.map((e) => [e.path, e]));
  const out: string[] = [];
  for (const e of tb.tree) {
    const o = left.get(e.path);
    left.delete(e.path);
    if (o?.oid === e.oid) continue; // equal subtrees are skipped whole: the only way it scales
    if (e.type === 'tree' && o?.type === 'tree')
      out.push(...(await isoDiff(iso, gitdir, cache, o.oid, e.oid, `${prefix}${e.path}/`)));
    else out.push(`${prefix}${e.path}`);
  }
  for (const p of left.keys()) out.push(`${prefix}${p}`);
  return out;
}

export async function isoGitComparison(
  _root: string,
  repos: Map<number, string>,
  log: (s: string) => void,
): Promise<string> {
  let iso: Iso;
  try {
    iso = (await import('isomorphic-git')) as Iso;
  } catch {
    return '## git CLI vs isomorphic-git\n\nisomorphic-git is not installed (`npm install -D isomorphic-git`): comparison skipped.';
  }
  const rows: string[][] = [];
  for (const [n, gitdir] of repos) {
    const a = (await git(['rev-parse', 'main~1^{tree}'], { gitDir: gitdir })).stdout.trim();
    const b = (await git(['rev-parse', 'main^{tree}'], { gitDir: gitdir })).stdout.trim();
    const cache = {};
    const cli: number[] = [];
    const isoMs: number[] = [];
    const walkMs: number[] = [];
    for (let i = 0; i < 7; i++) {
      let t = performance.now();
      const d1 = parseRawDiff(
        (await git(['diff-tree', '-r', '-z', '--raw', '--no-renames', a, b], { gitDir: gitdir })).stdout,
      );
      cli.push(performance.now() - t);
      t = performance.now();
      const d2 = await isoDiff(iso, gitdir, cache, a, b);
      isoMs.push(performance.now() - t);
      if (d1.length !== d2.length)
        throw new Error(`iso-compare: diff disagrees at ${n} (${d1.length} vs ${d2.length})`);
      // isomorphic-git's own walk visits every entry; at 10,000 domains one run is seconds, so once is enough.
      if (n <= 1000 && i < 3) {
        t = performance.now();
        await iso.walk({
          fs,
          gitdir,
          cache,
          trees: [iso.TREE({ ref: a }), iso.TREE({ ref: b })],
          map: async (path, [x, y]) => ((await x?.oid()) === (await y?.oid()) && path !== '.' ? null : path),
        });
        walkMs.push(performance.now() - t);
      }
    }
    const ls = (await git(['ls-tree', '-r', b], { gitDir: gitdir })).stdout.split('\n').filter(Boolean);
    const oids = Array.from({ length: 50 }, (_, i) => ls[(i * 7919) % ls.length]!.split(/\s+/)[2]!);
    const reader = new BlobReader(gitdir);
    await reader.readBlob(oids[0]!); // start the process outside the timing, as a kept-open reader is
    const cliRead: number[] = [];
    const isoRead: number[] = [];
    for (const oid of oids) {
      let t = performance.now();
      await reader.readBlob(oid);
      cliRead.push(performance.now() - t);
      t = performance.now();
      await iso.readBlob({ fs, gitdir, oid, cache });
      isoRead.push(performance.now() - t);
    }
    reader.close();
    rows.push([
      n.toLocaleString('en'),
      fmtMs(median(cli)),
      fmtMs(median(isoMs)),
      walkMs.length ? fmtMs(median(walkMs)) : 'not run',
      fmtMs(median(cliRead)),
      fmtMs(median(isoRead)),
      fmtRatio(median(isoMs) / median(cli)),
    ]);
    log(
      `iso compare ${n}: diff cli ${fmtMs(median(cli))} iso ${fmtMs(median(isoMs))}; read cli ${fmtMs(median(cliRead))} iso ${fmtMs(median(isoRead))}`,
    );
  }
  return `## git CLI vs isomorphic-git (the operation choice)

One commit apart (a one-user change); medians of 7 diffs and 50 blob reads, interleaved, same repo, one shared isomorphic-git \`cache\`. CLI diff = a spawned \`git diff-tree -r -z --raw\` (what \`NodeRepo.diff\` runs), parsed; CLI read = the kept-open \`git cat-file --batch\` (\`BlobReader\`).

${table(['domains', 'CLI diff-tree', 'iso-git diff (own recursion, skips equal subtrees)', 'iso-git `walk`', 'CLI blob read', 'iso-git readBlob', 'iso diff / CLI diff'], rows)}`;
}

import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { parse, parseDocument } from 'yaml';
import jsyaml from 'js-yaml';
import { passesFastCheck } from '../src/model/fast-accept.js';
import { parseConfigFile } from '../src/model/parse.js';
import { createRequire } from 'node:module';
import { BlobReader } from '../src/repo/blob-reader.js';
import { git } from '../src/repo/git.js';

/**
 * The parse floor, in a process of its own (its peak RSS is its own):
 *   parse-floor.js git GITDIR REV [--variants]   every YAML blob of REV, read through one cat-file
 *   parse-floor.js dir DIR                       every .yaml file under DIR, read from disk
 * Prints one JSON line: readMs, parseMs (`YAML.parse` of every file: the floor), and with
 * --variants the alternatives a sync could use instead: parseDocument (positions, what the
 * model uses), parseConfigFile (parseDocument + zod schema), and YAML.parse over worker threads.
 */
const [mode, where, rev] = process.argv.slice(2);
const variants = process.argv.includes('--variants');

async function readGit(gitDir: string, revision: string): Promise<{ path: string; text: string }[]> {
  const blobs = new BlobReader(gitDir);
  try {
    const ls = (await git(['ls-tree', '-r', '-z', revision], { gitDir })).stdout.split('\0').filter(Boolean);
    const entries = ls
      .map((l) => {
        const tab = l.indexOf('\t');
        return { oid: l.slice(0, tab).split(' ')[2]!, path: l.slice(tab + 1) };
      })
      .filter((e) => e.path.endsWith('.yaml'));
    const bufs = await Promise.all(entries.map((e) => blobs.readBlob(e.oid)));
    return entries.map((e, i) => ({ path: e.path, text: bufs[i]!.toString('utf8') }));
  } finally {
    blobs.close();
  }
}

function readDir(dir: string): { path: string; text: string }[] {
  const out: { path: string; text: string }[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === '.git') continue;
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.yaml')) out.push({ path: p, text: readFileSync(join(dir, p), 'utf8') });
    }
  };
  walk('');
  return out;
}

/** What a sync's check runs per file: the js-yaml fast path, else the canonical parseConfigFile. */
function checkFile(f: { path: string; text: string }): void {
  if (!passesFastCheck(f.path, f.text)) parseConfigFile(f.path, f.text);
}

function timed(f: () => void): number {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
}

async function parseInWorkers(texts: string[], n: number): Promise<number> {
  const t0 = performance.now();
  const code = `const { parentPort, workerData } = require('node:worker_threads'); const { parse } = require(${JSON.stringify(createRequire(import.meta.url).resolve('yaml'))});
    for (const t of workerData) parse(t); parentPort.postMessage(workerData.length);`;
  const chunk = Math.ceil(texts.length / n);
  await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: texts.slice(i * chunk, (i + 1) * chunk) });
          w.once('message', () => resolve());
          w.once('error', reject);
        }),
    ),
  );
  return performance.now() - t0;
}

const t0 = performance.now();
const files = mode === 'git' ? await readGit(where!, rev!) : readDir(where!);
const readMs = performance.now() - t0;
const bytes = files.reduce((a, f) => a + Buffer.byteLength(f.text), 0);
const parseMs = timed(() => {
  for (const f of files) parse(f.text);
});
const out: Record<string, number> = { files: files.length, bytes, readMs, parseMs };
if (variants) {
  // Warm every parser's code first, then two rounds in turn, keeping each one's faster round:
  // the first pass of whichever ran first otherwise pays for the JIT and the others do not.
  for (const f of files.slice(0, 500)) {
    parse(f.text);
    parseConfigFile(f.path, f.text);
    jsyaml.load(f.text, { schema: jsyaml.CORE_SCHEMA });
    checkFile(f);
  }
  const best: Record<string, number> = {
    parseMs: Infinity,
    parseDocumentMs: Infinity,
    parseConfigFileMs: Infinity,
    jsyamlMs: Infinity,
    checkMs: Infinity,
    workersMs: Infinity,
  };
  out.workers = Math.min(2, availableParallelism());
  for (let round = 0; round < 2; round++) {
    best.parseMs = Math.min(
      best.parseMs!,
      timed(() => files.forEach((f) => parse(f.text))),
    );
    best.parseDocumentMs = Math.min(
      best.parseDocumentMs!,
      timed(() => files.forEach((f) => parseDocument(f.text))),
    );
    best.parseConfigFileMs = Math.min(
      best.parseConfigFileMs!,
      timed(() => files.forEach((f) => parseConfigFile(f.path, f.text))),
    );
    best.jsyamlMs = Math.min(
      best.jsyamlMs!,
      timed(() => files.forEach((f) => jsyaml.load(f.text, { schema: jsyaml.CORE_SCHEMA }))),
    );
    best.checkMs = Math.min(
      best.checkMs!,
      timed(() => files.forEach(checkFile)),
    );
    best.workersMs = Math.min(
      best.workersMs!,
      await parseInWorkers(
        files.map((f) => f.text),
        out.workers,
      ),
    );
  }
  Object.assign(out, best);
}
out.maxRssKb = process.resourceUsage().maxRSS;
process.stdout.write(`${JSON.stringify(out)}\n`);

import { readFileSync, existsSync, lstatSync, readdirSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { confine } from './confine.js';
import { realFsOps, type FsOps } from './fs-ops.js';
import type { Loader } from './loader.js';

/** Staging lives inside the live dir so that every swap is a rename on one file system. */
export const STAGING_DIR = '.gitfailover-staging';

/**
 * The default loader's file work: a domain is built complete in the staging folder, then swapped
 * in with renames (git-sync's publish), so a reader never sees a half-written file nor a domain
 * with some files old and some new. Domains not in the plan are never touched.
 */
export class FilesLoader implements Loader {
  private seq = 0;
  /**
   * Domains built ahead of the apply by stage(), with the files they were built from; `built`
   * is undefined when the live folder already held exactly those bytes.
   */
  private readonly staged = new Map<string, { files: ReadonlyMap<string, Buffer>; built?: string }>();
  private stagingCleared = false;

  constructor(
    readonly liveDir: string,
    readonly domainsDir: string,
    /** Every change to the live dir goes through these (the fault-injection trials replace them). */
    private readonly fs: FsOps = realFsOps,
  ) {}

  /** The staging folder, proven inside the live dir before each use. */
  private get stagingDir(): string {
    return confine(this.liveDir, STAGING_DIR);
  }

  /** Clear what an interrupted apply left in staging (this apply's own stage() builds stay). */
  prepare(): void {
    const staging = this.stagingDir;
    if (!this.stagingCleared) {
      this.fs.removeTree(staging);
    } else if (existsSync(staging)) {
      const keep = new Set([...this.staged.values()].flatMap((s) => (s.built ? [s.built] : [])));
      for (const e of readdirSync(staging)) if (!keep.has(join(staging, e))) this.fs.removeTree(join(staging, e));
    }
    this.fs.mkdir(staging);
    this.fs.mkdir(confine(this.liveDir, this.domainsDir));
  }

  /**
   * Build a domain in staging ahead of the apply, while the sync is still checking other files
   * (a full sync writes every file of every domain: done during the check, that time hides
   * behind it). Nothing in the live dir changes: writeDomain() later swaps the build in,
   * and discardStaged() (a refused sync) or the next prepare() removes it.
   */
  stage(domain: string, files: ReadonlyMap<string, Buffer>): void {
    if (!this.stagingCleared) {
      // Once, before the first build.
      this.stagingCleared = true;
      this.fs.removeTree(this.stagingDir); // what an interrupted apply left
      this.fs.mkdir(this.stagingDir);
    }
    const previous = this.staged.get(domain);
    if (previous?.built) this.fs.removeTree(previous.built);
    if (holdsExactly(this.domainDir(domain), files)) {
      this.staged.set(domain, { files });
      return;
    }
    // Written from this thread: handing each file to libuv's threads (fs/promises) is slower on
    // few cores, the hand-offs costing more CPU than the overlap saves (bench/findings.md).
    this.staged.set(domain, { files, built: this.build(domain, files) });
  }

  /** Remove every stage() build (the sync was refused before anything went live). */
  discardStaged(): void {
    if (!this.stagingCleared) return;
    this.stagingCleared = false;
    this.staged.clear();
    this.fs.removeTree(this.stagingDir);
  }

  domainDir(domain: string): string {
    return confine(this.liveDir, `${this.domainsDir}/${domain}`);
  }

  /** Names of the domain folders in the live dir. */
  liveDomains(): string[] {
    const dir = confine(this.liveDir, this.domainsDir);
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  }

  /** Build the domain in staging, then swap it in. `files`: path relative to the domain folder -> bytes. */
  writeDomain(domain: string, files: ReadonlyMap<string, Buffer>): void {
    const live = this.domainDir(domain);
    const pre = this.staged.get(domain);
    this.staged.delete(domain);
    if (pre && pre.files === files) {
      if (pre.built) this.swapIn(domain, pre.built);
      return;
    }
    if (pre?.built) this.fs.removeTree(pre.built);
    // A domain whose folder already holds exactly these bytes is left as it is: the result is the
    // same exact copy, without deleting and recreating its files (most of a warm full sync
    // otherwise). Reading to compare is cheaper than rewriting.
    if (holdsExactly(live, files)) return;
    this.swapIn(domain, this.build(domain, files));
  }

  /** The domain's files, complete, in a new folder of staging. */
  private build(domain: string, files: ReadonlyMap<string, Buffer>): string {
    const built = join(this.stagingDir, `${domain}.${++this.seq}.new`);
    this.fs.mkdir(built);
    // One mkdir per folder, not per file: a domain's users share users/.
    const made = new Set([built]);
    for (const [rel, content] of files) {
      const p = join(built, rel);
      const dir = dirname(p);
      if (!made.has(dir)) {
        this.fs.mkdir(dir);
        made.add(dir);
      }
      this.fs.writeFile(p, content);
    }
    return built;
  }

  private swapIn(domain: string, built: string): void {
    const live = this.domainDir(domain);
    if (lstatExists(live)) {
      const old = join(this.stagingDir, `${domain}.${++this.seq}.old`);
      this.fs.rename(live, old);
      try {
        this.fs.rename(built, live);
      } catch (err) {
        // Put the old folder back so the live dir is never without the domain: the apply's
        // rollback then finds it as the applied commit had it.
        this.fs.rename(old, live);
        throw err;
      }
      this.bestEffort(() => this.fs.removeTree(old)); // debris in staging only; the next prepare() clears it
    } else {
      this.fs.mkdir(dirname(live));
      this.fs.rename(built, live);
    }
  }

  deleteDomain(domain: string): void {
    const live = this.domainDir(domain);
    if (!lstatExists(live)) return;
    this.fs.mkdir(this.stagingDir);
    const old = join(this.stagingDir, `${domain}.${++this.seq}.del`);
    this.fs.rename(live, old);
    this.bestEffort(() => this.fs.removeTree(old));
  }

  writeGlobal(path: string, content: Buffer): void {
    const p = confine(this.liveDir, path);
    this.fs.mkdir(dirname(p));
    // Written in staging and renamed into place, not beside the file: a crash mid-write then
    // leaves no partial `.name.tmp` in the live dir for a server to read (the kill trials found
    // them), and the next prepare() clears it.
    this.fs.mkdir(this.stagingDir);
    const tmp = join(this.stagingDir, `global.${++this.seq}.new`);
    this.fs.writeFile(tmp, content);
    // An empty folder where the file goes (left by a removed `path/...` file) holds nothing.
    if (isDir(p)) this.fs.removeEmptyDir(p);
    try {
      this.fs.rename(tmp, p);
    } catch (err) {
      this.bestEffort(() => this.fs.removeFile(tmp));
      throw err;
    }
  }

  removeGlobal(path: string): void {
    const p = confine(this.liveDir, path);
    this.fs.removeFile(p);
    // Folders the removal left empty go too, so the live dir is what a fresh apply makes; never
    // the live dir itself nor the domains folder.
    const stop = new Set([resolve(this.liveDir), resolve(this.liveDir, this.domainsDir)]);
    for (let dir = dirname(p); !stop.has(dir) && dir.startsWith(resolve(this.liveDir) + sep); dir = dirname(dir)) {
      if (!this.fs.removeEmptyDir(dir)) break;
    }
  }

  /** Clear staging after the apply: best effort, the live dir is already right and the next prepare() clears it again. */
  finish(): void {
    this.staged.clear();
    this.stagingCleared = false;
    this.bestEffort(() => this.fs.removeTree(this.stagingDir));
  }

  private bestEffort(step: () => void): void {
    try {
      step();
    } catch {
      // only staging debris is left behind
    }
  }
}

function isDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Whether `dir` holds exactly `files` (relative path -> bytes): no file more, none less, none different. */
export function holdsExactly(dir: string, files: ReadonlyMap<string, Buffer>): boolean {
  if (!existsSync(dir)) return false;
  let seen = 0;
  const walk = (d: string, prefix: string): boolean => {
    const entries = readdirSync(d, { withFileTypes: true });
    if (entries.length === 0) return false; // an empty folder the target does not have
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!walk(join(d, e.name), rel)) return false;
        continue;
      }
      const want = files.get(rel);
      if (!e.isFile() || want === undefined) return false;
      if (!readFileSync(join(d, e.name)).equals(want)) return false;
      seen++;
    }
    return true;
  };
  return walk(dir, '') && seen === files.size;
}

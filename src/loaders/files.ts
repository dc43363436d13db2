import { readFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Loader } from './loader.js';
import { writeNewFile } from '../secrets/marks.js';

/** Staging lives inside the live dir so that every swap is a rename on one file system. */
export const STAGING_DIR = '.gitfailover-staging';

/**
 * The default loader's file work: a domain is built complete in the staging folder, then swapped
 * in with renames (git-sync's publish), so a reader never sees a half-written file nor a domain
 * with some files old and some new. Domains not in the plan are never touched.
 */
export class FilesLoader implements Loader {
  private readonly staging: string;
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
  ) {
    this.staging = join(liveDir, STAGING_DIR);
  }

  /** Clear what an interrupted apply left in staging (this apply's own stage() builds stay). */
  prepare(): void {
    if (!this.stagingCleared) {
      rmSync(this.staging, { recursive: true, force: true });
    } else if (existsSync(this.staging)) {
      const keep = new Set([...this.staged.values()].flatMap((s) => (s.built ? [s.built] : [])));
      for (const e of readdirSync(this.staging)) if (!keep.has(join(this.staging, e))) rmSync(join(this.staging, e), { recursive: true, force: true });
    }
    mkdirSync(this.staging, { recursive: true });
    mkdirSync(join(this.liveDir, this.domainsDir), { recursive: true });
  }

  /**
   * Build a domain in staging ahead of the apply, while the sync is still checking other files
   * (a full sync of 10,000 domains writes 220,000 files: done during the check, that time is
   * hidden behind it). Nothing in the live dir changes: writeDomain() later swaps the build in,
   * and discardStaged() (a refused sync) or the next prepare() removes it.
   */
  stage(domain: string, files: ReadonlyMap<string, Buffer>): void {
    if (!this.stagingCleared) {
      // Once, before the first build.
      this.stagingCleared = true;
      rmSync(this.staging, { recursive: true, force: true }); // what an interrupted apply left
      mkdirSync(this.staging, { recursive: true });
    }
    const previous = this.staged.get(domain);
    if (previous?.built) rmSync(previous.built, { recursive: true, force: true });
    if (holdsExactly(this.domainDir(domain), files)) {
      this.staged.set(domain, { files });
      return;
    }
    // Written from this thread: handing each file to libuv's threads (fs/promises) measured
    // slower on 2 cores (cold full syncs of 32-42 s against 27-28 s), the hand-offs costing more
    // CPU than the overlap saved.
    this.staged.set(domain, { files, built: this.build(domain, files) });
  }

  /** Remove every stage() build (the sync was refused before anything went live). */
  discardStaged(): void {
    if (!this.stagingCleared) return;
    this.stagingCleared = false;
    this.staged.clear();
    rmSync(this.staging, { recursive: true, force: true });
  }

  domainDir(domain: string): string {
    return join(this.liveDir, this.domainsDir, domain);
  }

  /** Names of the domain folders in the live dir. */
  liveDomains(): string[] {
    const dir = join(this.liveDir, this.domainsDir);
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
    if (pre?.built) rmSync(pre.built, { recursive: true, force: true });
    // A domain whose folder already holds exactly these bytes is left as it is: the result is the
    // same exact copy, without deleting and recreating its files (a warm full sync of 10,000
    // domains spent most of its time there). Reading to compare is cheaper than rewriting.
    if (holdsExactly(live, files)) return;
    this.swapIn(domain, this.build(domain, files));
  }

  /** The domain's files, complete, in a new folder of staging. */
  private build(domain: string, files: ReadonlyMap<string, Buffer>): string {
    const built = join(this.staging, `${domain}.${++this.seq}.new`);
    mkdirSync(built, { recursive: true });
    // One mkdir per folder, not per file: 20 users share users/ (a full sync made 220,000 calls).
    const made = new Set([built]);
    for (const [rel, content] of files) {
      const p = join(built, rel);
      const dir = dirname(p);
      if (!made.has(dir)) {
        mkdirSync(dir, { recursive: true });
        made.add(dir);
      }
      writeNewFile(p, content); // a decrypted secret: 0600 from the start
    }
    return built;
  }

  private swapIn(domain: string, built: string): void {
    const live = this.domainDir(domain);
    if (existsSync(live)) {
      const old = join(this.staging, `${domain}.${++this.seq}.old`);
      renameSync(live, old);
      renameSync(built, live);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(built, live);
    }
  }

  deleteDomain(domain: string): void {
    const live = this.domainDir(domain);
    if (!existsSync(live)) return;
    const old = join(this.staging, `${domain}.${++this.seq}.del`);
    renameSync(live, old);
    rmSync(old, { recursive: true, force: true });
  }

  writeGlobal(path: string, content: Buffer): void {
    const p = join(this.liveDir, path);
    mkdirSync(dirname(p), { recursive: true });
    // Written in staging and renamed into place, not beside the file: a crash mid-write then
    // leaves no partial `.name.tmp` in the live dir for a server to read (the kill trials found
    // them), and the next prepare() clears it.
    mkdirSync(this.staging, { recursive: true });
    const tmp = join(this.staging, `global.${++this.seq}.new`);
    writeNewFile(tmp, content);
    renameSync(tmp, p);
  }

  removeGlobal(path: string): void {
    rmSync(join(this.liveDir, path), { force: true });
  }

  finish(): void {
    this.staged.clear();
    this.stagingCleared = false;
    rmSync(this.staging, { recursive: true, force: true });
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

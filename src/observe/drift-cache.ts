import { readFileSync, renameSync, rmSync, type Stats, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `<stateDir>/drift-cache.json`: a cache, never state; deleting it only makes the next check read every file. */
export const DRIFT_CACHE_FILE = 'drift-cache.json';

/**
 * A file whose mtime or ctime is this close to the check may still be written to within the same
 * clock tick, unseen by its fingerprint: such a file is read again next time (git's "racy clean").
 */
const RACY_MS = 2000;

const fingerprint = (id: string, st: Stats) => `${id} ${st.size} ${st.ino} ${st.mtimeMs} ${st.ctimeMs}`;

/**
 * Stat fingerprints (blob id, size, inode, mtime, ctime) of the live-dir files a drift check last
 * found holding their manifest's bytes, so the next check reads and hashes only the files whose
 * fingerprint moved (git's index does the same). ctime cannot be set back by hand, so an edit that
 * restores size and mtime still shows.
 */
export class DriftCache {
  private readonly next: Record<string, string> = {};
  private changed = false;

  private constructor(
    private readonly file: string,
    private readonly known: Record<string, string>,
    private readonly checkedAt: number,
  ) {}

  static load(stateDir: string, now = Date.now()): DriftCache {
    const file = join(stateDir, DRIFT_CACHE_FILE);
    let known: Record<string, string> = {};
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) known = parsed as Record<string, string>;
    } catch {
      // absent or unreadable: every file is read this time
    }
    return new DriftCache(file, known, now);
  }

  /** True when `path` was found intact with exactly this fingerprint; the entry is kept. */
  intact(path: string, id: string, st: Stats): boolean {
    const f = fingerprint(id, st);
    if (this.known[path] !== f) return false;
    this.next[path] = f;
    return true;
  }

  /** `path` was just read and holds `id`'s bytes. */
  remember(path: string, id: string, st: Stats): void {
    if (Math.max(st.mtimeMs, st.ctimeMs) > this.checkedAt - RACY_MS) return;
    this.next[path] = fingerprint(id, st);
    this.changed = true;
  }

  /** Write what this check found, when it differs; a state dir this user cannot write is left as it is. */
  save(): void {
    if (!this.changed && Object.keys(this.next).length === Object.keys(this.known).length) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(this.next));
      renameSync(tmp, this.file);
    } catch {
      // a cache: the next check reads the files again; no temp file left beside it
      rmSync(tmp, { force: true });
    }
  }
}

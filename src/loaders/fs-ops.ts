import { lstatSync, mkdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { writeNewFile } from '../secrets/marks.js';

/**
 * Every call by which a loader changes the live dir. The files loader goes through this object
 * only, so the fault-injection trials can make each step fail in turn (an EIO at step N cannot be
 * caused for real); production uses `realFsOps`.
 */
export interface FsOps {
  /** mkdir -p */
  mkdir(path: string): void;
  writeFile(path: string, content: Buffer): void;
  rename(from: string, to: string): void;
  /** rm -rf: a folder with its contents, a file or a link; nothing when absent. */
  removeTree(path: string): void;
  /** Remove a file or a link, never a folder; nothing when absent. */
  removeFile(path: string): void;
  /** Remove a folder only if it is empty: true when it was removed, false when it holds something or is not there. */
  removeEmptyDir(path: string): boolean;
}

export const realFsOps: FsOps = {
  mkdir: (p) => void mkdirSync(p, { recursive: true }),
  // A decrypted secret is 0600 (and owned as configured) from its creation on.
  writeFile: (p, c) => writeNewFile(p, c),
  rename: (a, b) => renameSync(a, b),
  removeTree: (p) => rmSync(p, { recursive: true, force: true }),
  removeFile: (p) => {
    let st: import('node:fs').Stats;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    // A folder where the applied commit had a file is not this file's to remove (it is a
    // domains folder or another file's parent): leave it to the steps that own it.
    if (!st.isDirectory()) rmSync(p, { force: true });
  },
  removeEmptyDir: (p) => {
    try {
      rmdirSync(p);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT' || code === 'ENOTDIR') return false;
      throw err;
    }
  },
};

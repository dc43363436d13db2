import type { StagedEntry } from './parsers.js';

/**
 * The entries of a git index file (`DIRC`, versions 2 and 3) whose path ends with `suffix`, and
 * the count of all entries: what `ls-files --stage -- '**\/*<suffix>'` and `ls-files | wc -l`
 * print, read in Node instead of a process each. Undefined for what this does not read the way
 * git does (version 4's compressed paths, a split or sparse index, a malformed file): the caller
 * asks git.
 */
export function readIndexFile(buf: Buffer, suffix: string): { count: number; matching: StagedEntry[] } | undefined {
  if (buf.length < 12 + 20 || buf.toString('latin1', 0, 4) !== 'DIRC') return undefined;
  const version = buf.readUInt32BE(4);
  if (version !== 2 && version !== 3) return undefined;
  const count = buf.readUInt32BE(8);
  const end = buf.length - 20; // the trailing checksum
  const tail = Buffer.from(suffix, 'utf8');
  const matching: StagedEntry[] = [];
  let at = 12;
  for (let n = 0; n < count; n++) {
    if (at + 62 > end) return undefined;
    const flags = buf.readUInt16BE(at + 60);
    const extended = (flags & 0x4000) !== 0;
    if (extended && version < 3) return undefined;
    const pathAt = at + (extended ? 64 : 62);
    const nul = buf.indexOf(0, pathAt);
    if (nul < 0 || nul > end) return undefined;
    if (extended && (buf.readUInt16BE(at + 62) & 0x4000) !== 0) return undefined; // a sparse-directory or skip-worktree entry
    const mode = buf.readUInt32BE(at + 24);
    if ((mode & 0o170000) === 0o040000) return undefined; // a sparse index's folder entry
    if (nul - pathAt >= tail.length && buf.compare(tail, 0, tail.length, nul - tail.length, nul) === 0) {
      matching.push({
        mode: mode.toString(8).padStart(6, '0'),
        oid: buf.toString('hex', at + 40, at + 60),
        path: buf.toString('utf8', pathAt, nul),
      });
    }
    at = at + ((pathAt - at + (nul - pathAt) + 8) & ~7);
  }
  // Extensions: a split index ('link') holds entries elsewhere, a sparse one ('sdir') folders.
  while (at + 8 <= end) {
    const sig = buf.toString('latin1', at, at + 4);
    if (sig === 'link' || sig === 'sdir') return undefined;
    at += 8 + buf.readUInt32BE(at + 4);
  }
  return { count, matching };
}

import { lstatSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { GitfailoverError } from '../errors.js';

/**
 * The one check every writer and remover of the live dir calls: `rel` (a path inside the live
 * dir, as the repo names it) resolves to a path strictly inside `liveDir`, with no `..` segment,
 * and no folder between the live dir and it is a symbolic link (which would carry the write to
 * wherever it points). Returns the absolute path.
 */
export function confine(liveDir: string, rel: string): string {
  const root = resolve(liveDir);
  const segments = rel.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  const abs = resolve(root, rel);
  const inside = relative(root, abs);
  if (
    isAbsolute(rel) ||
    segments.includes('..') ||
    inside === '' ||
    inside.startsWith(`..${sep}`) ||
    inside === '..' ||
    isAbsolute(inside)
  ) {
    throw outside(liveDir, rel, 'it does not lie inside the live dir');
  }
  // The folders between the live dir and the path (not the path itself: a link there is replaced
  // or removed as a link, never followed).
  let dir = root;
  for (const s of inside.split(sep).slice(0, -1)) {
    dir = join(dir, s);
    let st: import('node:fs').Stats;
    try {
      st = lstatSync(dir);
    } catch {
      break; // not there yet: mkdir will make a real folder
    }
    if (st.isSymbolicLink()) throw outside(liveDir, rel, `${relative(root, dir)} is a symbolic link`);
  }
  return abs;
}

function outside(liveDir: string, rel: string, why: string): GitfailoverError {
  return new GitfailoverError(
    'E_OUTSIDE_LIVE_DIR',
    `refusing to write or remove ${JSON.stringify(rel)} in the live dir ${liveDir}: ${why}; nothing outside the live dir is ever changed (check live.domains and the repo's paths)`,
    {
      kind: 'stalling',
      location: { file: rel },
    },
  );
}

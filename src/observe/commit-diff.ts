import { createTwoFilesPatch } from 'diff';
import type { NodeRepo } from '../repo/node-repo.js';
import { maskSecretFields } from '../util/redact.js';
import { isSecretPath } from '../model/secret-paths.js';
import { SECRET_CHANGED } from '../secrets/marks.js';

/** One file of a commit's diff, as the status page shows it. */
export interface FileDiff {
  path: string;
  status: 'A' | 'M' | 'D' | 'T';
  /** the `diff` package's unified patch; absent for binary or oversized files (see note) */
  patch?: string;
  note?: string;
}

const MAX_FILES = 40;
const MAX_FILE_BYTES = 256 * 1024;
const ZERO = /^0+$/;

/**
 * The diff of one commit against its first parent, file by file. Bounded (files, bytes) because
 * a first record of thousands of domains is one commit and the page must stay small; the note
 * then says how to see the rest.
 */
export async function commitDiff(repo: NodeRepo, commit: string): Promise<{ files: FileDiff[]; more: number }> {
  const entries = await repo.diff((await repo.parentsOf(commit))[0], commit);
  const files: FileDiff[] = [];
  for (const e of entries.slice(0, MAX_FILES)) {
    const status = (['A', 'M', 'D', 'T'].includes(e.status[0]!) ? e.status[0] : 'M') as FileDiff['status'];
    if (isSecretPath(e.path)) {
      files.push({ path: e.path, status, note: SECRET_CHANGED }); // ciphertext: nothing a reader can use, and nothing to show
      continue;
    }
    const read = async (oid: string) =>
      ZERO.test(oid) ? Buffer.alloc(0) : ((await repo.blobs.readBlob(oid)) ?? Buffer.alloc(0));
    const [before, after] = await Promise.all([read(e.oldOid), read(e.newOid)]);
    if (before.length + after.length > MAX_FILE_BYTES) {
      files.push({
        path: e.path,
        status,
        note: `too large to show here (${before.length + after.length} bytes): git show ${commit.slice(0, 12)} -- ${e.path}`,
      });
    } else if (before.includes(0) || after.includes(0)) {
      files.push({ path: e.path, status, note: 'binary file' });
    } else {
      const patch = createTwoFilesPatch(
        status === 'A' ? '/dev/null' : `a/${e.path}`,
        status === 'D' ? '/dev/null' : `b/${e.path}`,
        before.toString('utf8'),
        after.toString('utf8'),
        undefined,
        undefined,
        { context: 3 },
      );
      files.push({ path: e.path, status, patch: maskSecretFields(patch) });
    }
  }
  return { files, more: Math.max(0, entries.length - MAX_FILES) };
}

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../util/atomic.js';
import type { NodeRepo } from '../repo/node-repo.js';
import type { MergeConflict } from './merge.js';

/** A live edit that could not be merged with commits from the repo (stateDir/conflicts.json keeps the last ones). */
export interface ConflictRecord {
  time: string;
  node: string;
  /** `gitfailover/conflict/<node>-<time>`: holds the live dir as it was, before the repo's commits were applied */
  branch: string;
  /** the commit on that branch (the live edit) */
  liveCommit: string;
  /** the remote head whose changes won */
  incomingCommit: string;
  incomingSubject: string;
  incomingAuthor: string;
  files: MergeConflict[];
  /** false when the branch could not be pushed yet (it is in the node's clone) */
  pushed: boolean;
  /** one paragraph: the file, both commits and how to resolve */
  text: string;
}

const CONFLICTS_FILE = 'conflicts.json';
const KEEP_CONFLICTS = 20;

export function loadConflicts(stateDir: string): ConflictRecord[] {
  const p = join(stateDir, CONFLICTS_FILE);
  if (!existsSync(p)) return [];
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as unknown;
    return Array.isArray(v) ? (v as ConflictRecord[]) : [];
  } catch {
    return [];
  }
}

export function saveConflict(stateDir: string, c: ConflictRecord): void {
  writeJsonAtomic(join(stateDir, CONFLICTS_FILE), [c, ...loadConflicts(stateDir)].slice(0, KEEP_CONFLICTS));
}

/**
 * Drops the conflicts an operator has resolved, as the conflict text asks: the branch merged into
 * the branch's history (`head` contains the live edit's commit), or the branch deleted from the
 * remote (merged elsewhere or dropped on purpose). Asks the remote only while a conflict is listed;
 * a remote that cannot be asked now leaves the list as it is (the next record asks again).
 */
export async function pruneResolvedConflicts(
  stateDir: string,
  repo: NodeRepo,
  /** the branch as this node has it now (a ref or commit) */
  head: string,
  timeoutMs: number,
): Promise<ConflictRecord[]> {
  const listed = loadConflicts(stateDir);
  if (listed.length === 0) return [];
  let remote: Set<string>;
  try {
    remote = new Set((await repo.remoteRefs('refs/heads/gitfailover/conflict/', timeoutMs)).map((r) => r.ref));
  } catch {
    return [];
  }
  const open: ConflictRecord[] = [];
  const resolved: ConflictRecord[] = [];
  for (const c of listed) {
    const deleted = c.pushed && !remote.has(`refs/heads/${c.branch}`);
    const merged = await repo.isAncestor(c.liveCommit, head);
    (deleted || merged ? resolved : open).push(c);
  }
  if (resolved.length > 0) writeJsonAtomic(join(stateDir, CONFLICTS_FILE), open);
  return resolved;
}

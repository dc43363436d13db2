import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { redact } from '../util/redact.js';
import type { NodeRepo } from './node-repo.js';

/** Where a demoted primary keeps the commits the remote never got: `gitfailover/orphaned/<node>-<time>`. */
export const ORPHAN_PREFIX = 'refs/heads/gitfailover/orphaned/';

export interface Orphan {
  /** The branch name as git shows it (`gitfailover/orphaned/prod-1-20240501T101500Z`). */
  branch: string;
  commit: string;
  /** Commits on the branch that the remote head does not have. */
  commits: number;
}

export function orphanBranch(node: string, at: Date): string {
  // A ref name may not hold ':'; compact ISO time keeps the branches sorted by age.
  return `gitfailover/orphaned/${node}-${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

/**
 * True when no orphan branch can exist in a files-backend repo: no loose ref under the prefix and
 * none in packed-refs. `status` then starts no for-each-ref process; any doubt asks git.
 */
function noOrphanRefs(gitDir: string): boolean {
  if (existsSync(join(gitDir, 'reftable')) || existsSync(join(gitDir, ORPHAN_PREFIX))) return false;
  try {
    return !readFileSync(join(gitDir, 'packed-refs'), 'utf8').includes(` ${ORPHAN_PREFIX}`);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

export async function listOrphans(repo: NodeRepo, head: string | undefined): Promise<Orphan[]> {
  if (noOrphanRefs(repo.gitDir)) return [];
  const out: Orphan[] = [];
  for (const { ref, commit } of await repo.refs(ORPHAN_PREFIX)) {
    out.push({ branch: ref.slice('refs/heads/'.length), commit, commits: await repo.count(head, commit) });
  }
  return out;
}

export interface KeptOrphan {
  branch: string;
  commit: string;
  /** Commits on the branch that the remote head does not have. */
  commits: number;
  pushed: boolean;
  pushError?: string;
}

/** Put `commit` on a new orphan branch (and push that branch when `push`): the commits survive whatever the main branch does. */
export async function keepOrphan(
  cfg: NodeConfig,
  repo: NodeRepo,
  commit: string,
  remoteHead: string | undefined,
  at: Date,
  push: boolean,
): Promise<KeptOrphan> {
  const branch = orphanBranch(cfg.node, at);
  const ref = `refs/heads/${branch}`;
  await repo.updateRef(ref, commit, '');
  const kept: KeptOrphan = { branch, commit, commits: await repo.count(remoteHead, commit), pushed: false };
  if (push) {
    try {
      await repo.pushRef(ref, cfg.sync.timeout); // with the node's credentials, like every push
      kept.pushed = true;
    } catch (err) {
      kept.pushError = `could not push ${branch} to ${redact(cfg.repo.remote)}: ${errorMessage(err)}`;
    }
  }
  return kept;
}

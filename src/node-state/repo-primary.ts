import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { GitfailoverError } from '../errors.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { TriggerDispatcher } from '../triggers/dispatcher.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { parsePrimaryRecord, PRIMARY_FILE, type PrimaryRecord } from '../model/primary-file.js';
import { effectiveRole, roleSource } from './role-state.js';

export async function primaryAt(repo: NodeRepo, commit: string | undefined): Promise<PrimaryRecord | undefined> {
  if (!commit) return undefined;
  const blob = await repo.blobs.readBlob(`${commit}:${PRIMARY_FILE}`);
  return blob ? parsePrimaryRecord(blob.toString('utf8')) : undefined;
}

/**
 * The primary that counts when the node's branch and the remote disagree: the higher epoch, and
 * the remote's on a tie. A former primary whose branch still names itself (and holds commits the
 * remote never got) must still see that another node took over since.
 */
export async function governingPrimary(
  repo: NodeRepo,
  local: string | undefined,
  remoteHead: string | undefined,
): Promise<{ record?: PrimaryRecord; commit?: string }> {
  const l = await primaryAt(repo, local);
  const r = local === remoteHead ? l : await primaryAt(repo, remoteHead);
  if (r && (!l || r.epoch >= l.epoch)) return { record: r, commit: remoteHead };
  return { record: l, commit: l ? local : undefined };
}

/**
 * The refusal of a node that is not the repo's primary. When the node still believes it is the
 * primary (node file or promote), that is a split brain averted: fire `split-brain` once per
 * epoch seen (a daemon retrying every change must not flood the operators).
 */
export async function refuseNotPrimary(
  cfg: NodeConfig,
  primary: PrimaryRecord,
  commit: string | undefined,
  what = 'record',
): Promise<never> {
  const believes = effectiveRole(cfg) === 'primary';
  if (believes) await reportSplitBrain(cfg, primary, commit);
  throw new GitfailoverError(
    'E_NOT_PRIMARY',
    `the repo names ${primary.node} as primary (epoch ${primary.epoch}, ${PRIMARY_FILE}${commit ? ` at ${commit.slice(0, 12)}` : ''}), not ${cfg.node}: this node does not ${what}` +
      (believes
        ? ` although it is set up as primary (${roleSource(cfg)}). Another node took over: run "gitfailover demote" here to follow it (unpushed commits are kept on a branch), or "gitfailover promote" to take the role back.`
        : '. Run "gitfailover promote" to take over, or "gitfailover demote" to follow.'),
    { kind: 'stalling', data: { primary, commit } },
  );
}

async function reportSplitBrain(cfg: NodeConfig, primary: PrimaryRecord, commit: string | undefined): Promise<void> {
  const marker = join(cfg.repo.stateDir, 'split-brain.json');
  try {
    const seen = JSON.parse(readFileSync(marker, 'utf8')) as { node?: string; epoch?: number };
    if (existsSync(marker) && seen.node === primary.node && seen.epoch === primary.epoch) return;
  } catch {
    /* no marker yet */
  }
  writeJsonAtomic(marker, { node: primary.node, epoch: primary.epoch, commit, time: new Date().toISOString() });
  if (cfg.triggers.length === 0) return;
  const dispatcher = new TriggerDispatcher(cfg.triggers);
  dispatcher.fire({
    event: 'split-brain',
    node: cfg.node,
    time: new Date().toISOString(),
    primaries: [cfg.node, primary.node],
    ...(commit ? { commit } : {}),
  });
  await dispatcher.drain(Math.min(cfg.sync.timeout, 15_000));
}

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeRepo } from '../repo/node-repo.js';
import { nodeCommitter } from '../repo/commit-tree.js';
import { formatPrimaryRecord, PRIMARY_FILE, type PrimaryRecord } from '../model/primary-file.js';

export interface RoleCommitInput {
  base: string;
  record: PrimaryRecord;
  previous?: PrimaryRecord;
  change: 'promote' | 'demote';
  actor: { name: string; email: string };
  node: string;
  stateDir: string;
  /** record.signingKey: standbys with repo.verify refuse an unsigned role change like any other commit. */
  signingKey?: string;
}

/**
 * The role change as one audited commit on `base`: only `.gitfailover/primary` changes, built in a
 * throw-away index so the record index (and its stat cache) is left alone. The trailers are what
 * `log` parses (`Changed-By`, `Node`) plus the role fields.
 */
export async function roleCommit(repo: NodeRepo, c: RoleCommitInput): Promise<string> {
  const index = repo.index(join(c.stateDir, 'role.index'));
  try {
    await index.readTree(c.base);
    await index.hashAndStage(PRIMARY_FILE, formatPrimaryRecord(c.record));
    return await repo.commitTree({
      tree: await index.writeTree(),
      parents: [c.base],
      message: roleMessage(c),
      author: c.actor,
      committer: nodeCommitter(c.node),
      signingKey: c.signingKey,
    });
  } finally {
    rmSync(index.file, { force: true });
  }
}

export function roleMessage(c: Pick<RoleCommitInput, 'record' | 'previous' | 'change' | 'actor' | 'node'>): string {
  const prev = c.previous ? `${c.previous.node} (epoch ${c.previous.epoch})` : 'none';
  const parts = [
    `${c.change} ${c.record.node} to primary (epoch ${c.record.epoch})`,
    ...(c.record.reason.trim() ? [c.record.reason.trim()] : []),
    `The repo's primary was ${prev}; from this commit on only ${c.record.node} records configuration.`,
    [
      `Role-Change: ${c.change}`,
      `Primary: ${c.record.node}`,
      `Epoch: ${c.record.epoch}`,
      `Previous-Primary: ${c.previous?.node ?? 'none'}`,
      `Changed-By: ${c.actor.name}`,
      `Node: ${c.node}`,
    ].join('\n'),
  ];
  return `${parts.join('\n\n')}\n`;
}

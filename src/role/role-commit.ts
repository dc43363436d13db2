import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeRepo } from '../repo/node-repo.js';
import { signingArgs } from '../repo/signatures.js';
import { formatPrimaryRecord, PRIMARY_FILE, type PrimaryRecord } from './primary-file.js';

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
  const env = { GIT_INDEX_FILE: join(c.stateDir, 'role.index') };
  try {
    await repo.git(['read-tree', c.base], { env });
    const oid = (
      await repo.git(['hash-object', '-w', '--stdin'], { input: formatPrimaryRecord(c.record) })
    ).stdout.trim();
    await repo.git(['update-index', '--add', '--cacheinfo', `100644,${oid},${PRIMARY_FILE}`], { env });
    const tree = (await repo.git(['write-tree'], { env })).stdout.trim();
    const sign = signingArgs(c.signingKey);
    const r = await repo.git([...sign.config, 'commit-tree', ...sign.flag, tree, '-p', c.base, '-F', '-'], {
      input: roleMessage(c),
      env: {
        GIT_AUTHOR_NAME: c.actor.name,
        GIT_AUTHOR_EMAIL: c.actor.email,
        GIT_COMMITTER_NAME: `gitfailover (${c.node})`,
        GIT_COMMITTER_EMAIL: `gitfailover@${c.node}`,
      },
    });
    return r.stdout.trim();
  } finally {
    rmSync(env.GIT_INDEX_FILE, { force: true });
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

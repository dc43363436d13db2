import { existsSync } from 'node:fs';
import { GitfailoverError } from '../errors.js';
import type { NodeRepo } from './node-repo.js';

/**
 * SSH commit signatures (git's `gpg.format=ssh`): the primary signs what it records, a standby
 * with `repo.verify.allowedSigners` applies only commits signed by a key in that file. Settings go
 * on the command line (`-c`), never into the clone's config, so the node file stays the only source.
 */

/** `git -c ... commit-tree -S`: the `-c` part (before the subcommand) and the flag (after it). */
export function signingArgs(signingKey: string | undefined): { config: string[]; flag: string[] } {
  if (!signingKey) return { config: [], flag: [] };
  return { config: ['-c', 'gpg.format=ssh', '-c', `user.signingkey=${signingKey}`], flag: ['-S'] };
}

/** One commit's signature as git reports it (`%G?`: G good, U good but unknown key, N none, B bad, E cannot check, ...). */
export interface CommitSignature {
  commit: string;
  status: string;
  /** The principal from the allowed signers file (`%GS`), when the key is in it. */
  signer: string;
  /** The signing key's fingerprint (`%GK`), when signed. */
  key: string;
}

export async function commitSignatures(repo: NodeRepo, revs: string[], allowedSigners: string): Promise<CommitSignature[]> {
  const r = await repo.git([
    '-c',
    'gpg.format=ssh',
    '-c',
    `gpg.ssh.allowedSignersFile=${allowedSigners}`,
    'log',
    '-z',
    '--format=%H%x01%G?%x01%GS%x01%GK',
    ...revs,
    '--',
  ]);
  return r.stdout
    .split('\0')
    .filter((l) => l.trim())
    .map((l) => {
      const [commit, status, signer, key] = l.trim().split('\x01');
      return { commit: commit!, status: status ?? 'N', signer: signer ?? '', key: key ?? '' };
    });
}

const WHY: Record<string, string> = {
  N: 'is not signed',
  U: 'is signed by a key that is not in the allowed signers file',
  B: 'has a bad signature (the commit was changed after it was signed)',
  E: 'has a signature that cannot be checked',
  X: 'has an expired signature',
  Y: 'is signed by an expired key',
  R: 'is signed by a revoked key',
};

/**
 * Refuses unless every commit in `revs` (a `git log` range) has a good signature from an
 * allowed key. Only `G` passes: `U` (a valid signature by a key not in the file) is a stranger.
 */
export async function verifyCommits(repo: NodeRepo, revs: string[], allowedSigners: string, nodeFile: string): Promise<CommitSignature[]> {
  if (!existsSync(allowedSigners)) {
    throw new GitfailoverError('E_CONFIG', `repo.verify.allowedSigners ${allowedSigners} (in ${nodeFile}) does not exist: create it (lines of "principal namespaces=\\"git\\" ssh-ed25519 AAAA...") or remove repo.verify`, {
      kind: 'stalling',
      location: { file: nodeFile, field: 'repo.verify.allowedSigners' },
    });
  }
  const sigs = await commitSignatures(repo, revs, allowedSigners);
  const bad = sigs.filter((s) => s.status !== 'G');
  if (bad.length > 0) {
    const first = bad[bad.length - 1]!; // log lists newest first: name the oldest offender
    const why = WHY[first.status] ?? `has signature status ${first.status}`;
    const key = first.key ? ` (key ${first.key})` : '';
    const more = bad.length > 1 ? ` (${bad.length} of the ${sigs.length} new commits fail the check)` : '';
    throw new GitfailoverError(
      'E_SIGNATURE',
      `commit ${first.commit.slice(0, 12)} is refused: it ${why}${key}, and repo.verify.allowedSigners (${allowedSigners}) requires every new commit to be signed by an allowed key${more}. Nothing was applied; sign the change with an allowed key (record.signingKey on the primary) and push`,
      { kind: 'stalling', location: { commit: first.commit }, data: { refused: bad } },
    );
  }
  return sigs;
}

import { existsSync } from 'node:fs';
import { GitfailoverError } from '../errors.js';
import { gpgHome } from './gpg-home.js';
import type { NodeRepo } from './node-repo.js';

/**
 * Commit signatures. The primary signs what it records with an SSH key (git's `gpg.format=ssh`);
 * a node with `repo.verify` applies a commit only when it carries a good signature by a key it
 * trusts: an SSH key in `allowedSigners`, or an OpenPGP key in `gpgKeyring` (a forge's merge
 * key, such as GitHub's web-flow key). Settings go on the command line (`-c`) and GNUPGHOME is
 * the node's own (gpg-home.ts), never the clone's config nor the user's, so the node file stays
 * the only source of trust.
 *
 * The rule, the same for a partial and a full sync: every change on the branch between the
 * trusted commits and the target must verify. The trusted commits are the newest commit this node
 * verified and applied (`verifiedCommit` in state.json) and `repo.verify.anchor` from the node
 * file; without either, the whole history down to the repo's first commit. A change is a commit
 * on the first-parent line (`git log --first-parent TARGET --not TRUSTED...`): a merge commit's
 * signature vouches for the merged pull request, so its own commits need not be signed.
 */

/** `repo.verify` as loaded (paths absolute). */
export interface VerifySettings {
  allowedSigners?: string;
  gpgKeyring?: readonly string[];
  anchor?: string;
}

/** One commit's signature as git reports it (`%G?`: G good, U good but unknown key, N none, B bad, E cannot check, ...). */
export interface CommitSignature {
  commit: string;
  status: string;
  /** The principal from the allowed signers file, or the OpenPGP user id (`%GS`). */
  signer: string;
  /** The signing key (`%GK`): `SHA256:...` for SSH, an OpenPGP key id otherwise. */
  key: string;
}

/** The files git verifies with: an allowed signers file (maybe empty) and a private GNUPGHOME. */
interface TrustFiles {
  allowedSigners: string;
  gnupgHome: string;
}

/** `git log` of `revs` with each commit's signature, checked against `trust` only. */
export async function commitSignatures(repo: NodeRepo, revs: string[], trust: TrustFiles): Promise<CommitSignature[]> {
  const r = await repo.git(
    [
      // Which program checks which signature, and how, is fixed here; ~/.gitconfig is not read.
      '-c',
      'gpg.program=gpg',
      '-c',
      'gpg.minTrustLevel=undefined',
      '-c',
      'gpg.ssh.program=ssh-keygen',
      '-c',
      `gpg.ssh.allowedSignersFile=${trust.allowedSigners}`,
      '-c',
      'log.showSignature=false',
      'log',
      '-z',
      '--format=%H%x01%G?%x01%GS%x01%GK',
      ...revs,
      '--',
    ],
    { env: { GNUPGHOME: trust.gnupgHome, GIT_CONFIG_GLOBAL: '/dev/null' } },
  );
  return parseSignatures(r.stdout);
}

/** `git log -z --format=%H%x01%G?%x01%GS%x01%GK` -> one entry per commit, newest first. */
export function parseSignatures(stdout: string): CommitSignature[] {
  return stdout
    .split('\0')
    .filter((l) => l.trim())
    .map((l) => {
      const [commit, status, signer, key] = l.trim().split('\x01');
      return { commit: commit!, status: status || 'N', signer: signer ?? '', key: key ?? '' };
    });
}

/** Why a signature does not pass, in words (SSH keys are named `SHA256:...` by git, OpenPGP keys by id). */
export function whyRefused(s: CommitSignature): string {
  const ssh = s.key.startsWith('SHA256:');
  const key = s.key ? ` ${s.key}` : '';
  switch (s.status) {
    case 'N':
      return 'is not signed';
    case 'U':
      return ssh
        ? `is signed by an SSH key${key} that is not in repo.verify.allowedSigners`
        : `is signed by an OpenPGP key${key} that is not trusted`;
    case 'E':
      return ssh
        ? `has an SSH signature that cannot be checked${key ? ` (key${key})` : ''}`
        : `is signed by an OpenPGP key${key} that is not in repo.verify.gpgKeyring`;
    case 'B':
      return 'has a bad signature (the commit was changed after it was signed)';
    case 'X':
      return `has an expired signature${key ? ` (key${key})` : ''}`;
    case 'Y':
      return `is signed by an expired key${key}`;
    case 'R':
      return `is signed by a revoked key${key}`;
    default:
      return `has signature status ${s.status}`;
  }
}

export interface VerifyRangeInput {
  /** The newest commit this node verified and applied (state.json), if any. */
  anchor?: string;
  target: string;
  verify: VerifySettings;
  /** The node file, for messages. */
  file: string;
  /** Where the private GNUPGHOME is built. */
  stateDir: string;
}

export interface VerifyRangeResult {
  /** The commits that were checked (newest first); empty when the target is already trusted. */
  checked: CommitSignature[];
  /** The commit to remember as trusted once the target is applied. */
  anchor: string;
}

/**
 * Refuses unless every change between the trusted commits and `target` has a good signature by
 * a trusted key (the rule in this file's header). Only `G` passes: `U` from SSH is a valid
 * signature by a key not in the allowed signers file, a stranger.
 */
export async function verifyRange(repo: NodeRepo, input: VerifyRangeInput): Promise<VerifyRangeResult> {
  const { verify, file, target } = input;
  if (verify.allowedSigners && !existsSync(verify.allowedSigners)) {
    throw new GitfailoverError(
      'E_CONFIG',
      `repo.verify.allowedSigners ${verify.allowedSigners} (in ${file}) does not exist: create it (lines of "principal namespaces=\\"git\\" ssh-ed25519 AAAA...") or remove repo.verify.allowedSigners`,
      {
        kind: 'stalling',
        location: { file, field: 'repo.verify.allowedSigners' },
      },
    );
  }
  // Full ids only (the schema's rule and state.json's): read from the kept-open cat-file, no process.
  const isCommit = async (id: string) =>
    /^([0-9a-f]{40}|[0-9a-f]{64})$/.test(id) && (await repo.blobs.read(id))?.type === 'commit';
  const trusted: string[] = [];
  if (verify.anchor) {
    if (!(await isCommit(verify.anchor))) {
      throw new GitfailoverError(
        'E_CONFIG',
        `repo.verify.anchor ${verify.anchor} (in ${file}) is not a commit of the fetched branch ${repo.spec.branch}: give the full id of a commit in its history that you trust, or remove repo.verify.anchor`,
        { kind: 'stalling', location: { file, field: 'repo.verify.anchor' } },
      );
    }
    trusted.push(verify.anchor);
  }
  // A state anchor the clone no longer has (a clone made again after a rewrite) trusts nothing.
  if (input.anchor && (await isCommit(input.anchor))) trusted.push(input.anchor);

  const home = await gpgHome(input.stateDir, verify.gpgKeyring ?? [], file);
  const sigs = await commitSignatures(
    repo,
    ['--first-parent', target, ...(trusted.length > 0 ? ['--not', ...trusted] : [])],
    {
      allowedSigners: verify.allowedSigners ?? home.noAllowedSigners,
      gnupgHome: home.dir,
    },
  );
  const bad = sigs.filter((s) => s.status !== 'G');
  if (bad.length > 0) {
    const first = bad[bad.length - 1]!; // log lists newest first: name the oldest offender
    const since =
      trusted.length > 0
        ? `since the trusted commit ${trusted[trusted.length - 1]!.slice(0, 12)}`
        : "since the repo's first commit (no trusted commit yet)";
    const more = bad.length > 1 ? ` (${bad.length} of the ${sigs.length} commits checked fail)` : '';
    const keys = [
      verify.allowedSigners && `allowedSigners ${verify.allowedSigners}`,
      verify.gpgKeyring && `gpgKeyring ${verify.gpgKeyring.join(', ')}`,
    ]
      .filter(Boolean)
      .join(' or ');
    // A signed commit on top does not help (the offender stays in every node's range): say what does.
    throw new GitfailoverError(
      'E_SIGNATURE',
      `commit ${first.commit.slice(0, 12)} is refused: it ${whyRefused(first)}, and repo.verify (in ${file}) requires every change ${since} to be signed by a key in ${keys}${more}. Nothing was applied; replace the commit on the branch with one signed by a trusted key (record.signingKey on the primary), or, once you have reviewed it, set repo.verify.anchor to its full id`,
      { kind: 'stalling', location: { commit: first.commit }, data: { refused: bad, trusted } },
    );
  }
  // Keep the newer anchor when the target lies below it (`sync --to` an older commit).
  const keep =
    sigs.length === 0 &&
    input.anchor &&
    trusted.includes(input.anchor) &&
    input.anchor !== target &&
    (await repo.isAncestor(target, input.anchor));
  return { checked: sigs, anchor: keep ? input.anchor! : target };
}

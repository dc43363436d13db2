import { accessSync, chmodSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';

/** The credentials part of `repo` in the node file, as the loader resolved it. */
export interface RemoteCredentials {
  auth?: { username: string; password?: string; tokenFile?: string };
  sshKey?: string;
  knownHosts?: string;
  strictHostKeyChecking?: 'yes' | 'accept-new';
}

/** What one git process that talks to the remote needs: config flags before the verb, and env. */
export interface RemoteAccess {
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Values that must never appear in a message (callers redact them from stderr). */
  secrets: string[];
}

export type Transport = 'http' | 'ssh' | 'local';

/** Package root: the helper scripts ship in `bin/` beside the CLI (from `dist/repo/` or `src/repo/`). */
const BIN_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin');
export const ASKPASS_SCRIPT = join(BIN_DIR, 'git-askpass.sh');
export const SSH_SCRIPT = join(BIN_DIR, 'git-ssh.sh');

export function transportOf(remote: string): Transport {
  if (/^https?:\/\//i.test(remote)) return 'http';
  if (/^(ssh|git\+ssh|ssh\+git):\/\//i.test(remote)) return 'ssh';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) return 'local'; // file://, git:// (no credentials)
  // scp-like `[user@]host:path` (git's own rule: a colon before any slash)
  if (/^[^/]+:/.test(remote) && !/^[A-Za-z]:[\\/]/.test(remote)) return 'ssh';
  return 'local';
}

/**
 * Build the per-process access for `remote`. Nothing is written anywhere: HTTPS credentials go
 * to git's askpass hook through variables on the child's environment (`-c credential.helper=`
 * empties the helper list, so no helper answers first and none stores the secret afterwards);
 * SSH goes through a wrapper that reads the key and known-hosts paths from the environment.
 * A credential kind that does not fit the remote's transport is a configuration error.
 */
export function remoteAccess(remote: string, creds: RemoteCredentials): RemoteAccess {
  const transport = transportOf(remote);
  const hasSsh = creds.sshKey !== undefined || creds.knownHosts !== undefined;
  if (creds.auth && transport !== 'http') {
    throw new ConfigError(
      `repo.auth is for https remotes, but repo.remote is a ${transport === 'ssh' ? 'ssh' : 'local'} remote: remove repo.auth or use the https URL`,
      { field: 'repo.auth' },
    );
  }
  if (hasSsh && transport !== 'ssh') {
    throw new ConfigError(
      `repo.sshKey and repo.knownHosts are for ssh remotes, but repo.remote is not one: remove them or use the ssh URL`,
      {
        field: creds.sshKey !== undefined ? 'repo.sshKey' : 'repo.knownHosts',
      },
    );
  }
  if (creds.auth) return httpAccess(creds.auth);
  if (hasSsh || (transport === 'ssh' && creds.strictHostKeyChecking === 'accept-new')) return sshAccess(creds);
  return { args: [], env: {}, secrets: [] };
}

function httpAccess(auth: NonNullable<RemoteCredentials['auth']>): RemoteAccess {
  const password = auth.password ?? readTokenFile(auth.tokenFile!);
  return {
    args: ['-c', 'credential.helper='],
    env: {
      GIT_ASKPASS: executable(ASKPASS_SCRIPT),
      GITFAILOVER_GIT_USERNAME: auth.username,
      GITFAILOVER_GIT_PASSWORD: password,
    },
    secrets: [password],
  };
}

/** Read on every call on purpose: a token rotated by another process is used at the next fetch. */
function readTokenFile(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(
      `repo.auth.tokenFile: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (it must hold the token, readable by this node's user)`,
      {
        field: 'repo.auth.tokenFile',
      },
    );
  }
  if (!token)
    throw new ConfigError(`repo.auth.tokenFile: ${file} is empty: write the token into it`, {
      field: 'repo.auth.tokenFile',
    });
  return token;
}

function sshAccess(creds: RemoteCredentials): RemoteAccess {
  for (const [field, path] of [
    ['repo.sshKey', creds.sshKey],
    ['repo.knownHosts', creds.knownHosts],
  ] as const) {
    if (path !== undefined && !existsSync(path)) {
      throw new ConfigError(
        `${field}: ${path} does not exist${field === 'repo.knownHosts' ? " (create it with the server's host key: ssh-keyscan HOST > FILE, then compare the fingerprint)" : ''}`,
        {
          field,
        },
      );
    }
  }
  return {
    args: [],
    env: {
      // The wrapper's own path is the only thing in this shell string, and it is ours, quoted.
      GIT_SSH_COMMAND: shellQuote(executable(SSH_SCRIPT)),
      GIT_SSH_VARIANT: 'ssh',
      GIT_SSH: undefined,
      GITFAILOVER_SSH_KEY: creds.sshKey === undefined ? undefined : sshPathOption(creds.sshKey),
      GITFAILOVER_SSH_KNOWN_HOSTS: creds.knownHosts === undefined ? undefined : sshPathOption(creds.knownHosts),
      GITFAILOVER_SSH_STRICT: creds.strictHostKeyChecking ?? 'yes',
    },
    secrets: [],
  };
}

/**
 * A path as the value of an ssh `-o` option: ssh splits such values on blanks unless quoted and
 * expands `%` tokens, so quote it and double every `%`.
 */
export function sshPathOption(path: string): string {
  if (/[\n\r]/.test(path))
    throw new ConfigError(`ssh key or known-hosts path ${JSON.stringify(path)} contains a line break`, {});
  return `"${path.replace(/%/g, '%%').replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The helper scripts need their execute bit; an archive that dropped it gets it back here. */
function executable(path: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    try {
      chmodSync(path, 0o755);
    } catch {
      // read-only install: git will say it cannot run the helper, and remoteFailure explains it
    }
  }
  return path;
}

/** A remote failure git reported, sorted into what a person must do about it. */
export interface RemoteFailure {
  code: 'E_REMOTE_AUTH' | 'E_REMOTE_HOST_KEY' | 'E_REMOTE_KEY';
  hint: string;
}

/** Pure: classify git's stderr (already redacted) for a remote operation. */
export function remoteFailure(stderr: string, creds: RemoteCredentials, write: boolean): RemoteFailure | undefined {
  const access = write ? 'write (push)' : 'read (fetch)';
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/i.test(stderr)) {
    return {
      code: 'E_REMOTE_HOST_KEY',
      hint: creds.knownHosts
        ? `the server's host key is not in repo.knownHosts (${creds.knownHosts}) or differs from it: compare the server's fingerprint, then add its key (ssh-keyscan -p PORT HOST >> ${creds.knownHosts})`
        : `the server's host key is unknown: set repo.knownHosts to a file with the key (ssh-keyscan -p PORT HOST > FILE, then compare the fingerprint)`,
    };
  }
  if (/UNPROTECTED PRIVATE KEY FILE|bad permissions/i.test(stderr)) {
    return {
      code: 'E_REMOTE_KEY',
      hint: `ssh refuses the key repo.sshKey (${creds.sshKey}) because others can read it: chmod 600 it`,
    };
  }
  if (/Permission denied \(publickey|Permission denied, please try again|Load key .*: invalid format/i.test(stderr)) {
    return {
      code: 'E_REMOTE_KEY',
      hint: creds.sshKey
        ? `the server refused the key repo.sshKey (${creds.sshKey}): add its public key as a deploy key with ${access} access to the repo`
        : `the server refused this node's ssh key: set repo.sshKey to a deploy key with ${access} access to the repo`,
    };
  }
  if (
    /Authentication failed|HTTP (401|403)|returned error: (401|403)|could not read (Username|Password)|terminal prompts disabled/i.test(
      stderr,
    )
  ) {
    return {
      code: 'E_REMOTE_AUTH',
      hint: creds.auth
        ? `the server refused the credentials of repo.auth (user ${creds.auth.username}${creds.auth.tokenFile ? `, token file ${creds.auth.tokenFile}` : ''}): check that the token or password is current and has ${access} access to the repo`
        : `the server asks for credentials: set repo.auth (username, and password: env:NAME or tokenFile) with ${access} access to the repo`,
    };
  }
  return undefined;
}

/** Remove every secret from a text (defence in depth: git should never print one). */
export function scrub(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

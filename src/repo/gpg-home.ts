import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GitfailoverError } from '../errors.js';

/**
 * The node's own GNUPGHOME for checking OpenPGP commit signatures, built in the state dir from
 * the key files `repo.verify.gpgKeyring` names (binary keyrings or armored keys, whatever
 * `gpg --import` reads). Never the user's ~/.gnupg: a key someone imported there for other work
 * must not make a commit pass. Every key in it is trusted (`trust-model always`), which is
 * `gpg --verify`'s meaning of "a good signature by a key in the keyring".
 */

/** gpg.conf of the private home: no agent left running per state dir, no key fetched from the network. */
const GPG_CONF = 'no-autostart\ntrust-model always\nno-auto-key-retrieve\n';
const PREFIX = 'gnupg-';
/** Marks a home whose keys were all imported (a build killed midway has none and is rebuilt). */
const COMPLETE = 'gitfailover-complete';
/** An empty allowed signers file: SSH signatures then read as "unknown key" rather than a git error. */
export const NO_ALLOWED_SIGNERS = 'no-allowed-signers';

export interface GpgHome {
  /** The directory to pass to git and gpg as GNUPGHOME. */
  dir: string;
  /** An empty allowed signers file inside it, for nodes that trust no SSH key. */
  noAllowedSigners: string;
}

/**
 * The private home for exactly these key files, rebuilt only when one of them changed (the
 * directory is named after their content); homes of earlier keyrings are removed. Call under
 * the node's sync lock.
 */
export async function gpgHome(stateDir: string, keyFiles: readonly string[], nodeFile: string): Promise<GpgHome> {
  const hash = createHash('sha256').update(GPG_CONF);
  const contents = keyFiles.map((f) => {
    try {
      return readFileSync(f);
    } catch (err) {
      const why =
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'does not exist'
          : `cannot be read (${(err as Error).message})`;
      throw keyringError(
        `repo.verify.gpgKeyring ${f} (in ${nodeFile}) ${why}: export the trusted public keys there ("gpg --export KEYID > ${f}", or an armored .asc file) or remove it from repo.verify.gpgKeyring`,
        nodeFile,
      );
    }
  });
  for (const [i, c] of contents.entries()) hash.update(`${keyFiles[i]}\0${c.length}\0`).update(c);
  const name = `${PREFIX}${hash.digest('hex').slice(0, 16)}`;
  const dir = join(stateDir, name);
  const home = { dir, noAllowedSigners: join(dir, NO_ALLOWED_SIGNERS) };
  if (existsSync(join(dir, COMPLETE))) return home;

  mkdirSync(stateDir, { recursive: true });
  const tmp = join(stateDir, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { mode: 0o700 });
  try {
    writeFileSync(join(tmp, 'gpg.conf'), GPG_CONF);
    writeFileSync(join(tmp, NO_ALLOWED_SIGNERS), '');
    for (const f of keyFiles) {
      const out = await runGpg(tmp, ['--import', f], nodeFile);
      // IMPORT_RES: count, no_user_id, imported, imported_rsa, unchanged, ..., sec_read (10th).
      const res = /^\[GNUPG:\] IMPORT_RES ([\d ]+)$/m.exec(out.stdout)?.[1]?.split(' ').map(Number);
      if (!res)
        throw keyringError(
          `repo.verify.gpgKeyring ${f} (in ${nodeFile}) could not be imported: ${lastLine(out.stderr)}; give a public key exported with "gpg --export KEYID" (binary or --armor)`,
          nodeFile,
        );
      // A secret key has no business in a verifier's keyring (the agent-less home refuses its secret part anyway).
      if ((res[9] ?? 0) > 0)
        throw keyringError(
          `repo.verify.gpgKeyring ${f} (in ${nodeFile}) holds a secret key: give public keys only ("gpg --export KEYID", never --export-secret-keys) and keep the secret key off this node`,
          nodeFile,
        );
      if ((res[2] ?? 0) + (res[4] ?? 0) === 0)
        throw keyringError(
          `repo.verify.gpgKeyring ${f} (in ${nodeFile}) holds no OpenPGP public key: give a key exported with "gpg --export KEYID" (binary or --armor)`,
          nodeFile,
        );
    }
    writeFileSync(join(tmp, COMPLETE), `${keyFiles.join('\n')}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  for (const entry of readdirSync(stateDir)) {
    if (entry !== name && (entry.startsWith(PREFIX) || (entry.startsWith(`.${PREFIX}`) && entry.endsWith('.tmp'))))
      rmSync(join(stateDir, entry), { recursive: true, force: true });
  }
  return home;
}

function keyringError(message: string, nodeFile: string): GitfailoverError {
  return new GitfailoverError('E_CONFIG', message, {
    kind: 'stalling',
    location: { file: nodeFile, field: 'repo.verify.gpgKeyring' },
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).slice(-1)[0] ?? 'gpg failed';
}

/** gpg with the private home and nothing else from this process's environment that gpg reads. */
function runGpg(
  home: string,
  args: string[],
  nodeFile: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      'gpg',
      ['--batch', '--no-tty', '--status-fd', '1', ...args],
      { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GNUPGHOME: home, LC_ALL: 'C' }, timeout: 60_000 },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(
            keyringError(
              `repo.verify.gpgKeyring (in ${nodeFile}) needs gpg, which is not installed: install gnupg (apt-get install gnupg) or remove repo.verify.gpgKeyring`,
              nodeFile,
            ),
          );
          return;
        }
        const code = err
          ? typeof (err as NodeJS.ErrnoException).code === 'number'
            ? Number((err as NodeJS.ErrnoException).code)
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

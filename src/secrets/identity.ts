import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError } from '../errors.js';
import { parseIdentityFile } from './age.js';

/** `secrets.identity: file:PATH` as an absolute path (relative to the node file, like every path in it). */
export function identityPath(cfg: Pick<NodeConfig, 'file' | 'secrets'>): string | undefined {
  const v = cfg.secrets.identity;
  if (v === undefined) return undefined;
  const p = v.slice('file:'.length);
  return isAbsolute(p) ? p : resolve(dirname(cfg.file), p);
}

/**
 * This node's age identities, read when needed (never kept in the loaded config). Refuses an
 * identity file others can read: whoever reads it reads every secret of the repo.
 */
export function loadIdentities(cfg: Pick<NodeConfig, 'file' | 'secrets'>): string[] {
  const path = identityPath(cfg);
  if (!path) {
    throw new ConfigError(
      `${cfg.file}: secrets.identity is not set, so this node cannot decrypt secrets: run "gitfailover keygen -c ${cfg.file}" after adding "secrets: { identity: file:/etc/gitfailover/age.key }"`,
      { file: cfg.file, field: 'secrets.identity' },
    );
  }
  let text: string;
  try {
    const st = statSync(path);
    if ((st.mode & 0o077) !== 0) {
      throw new GitfailoverError(
        'E_SECRET_IDENTITY',
        `age identity ${path} (secrets.identity in ${cfg.file}) can be read by others (mode ${(st.mode & 0o777).toString(8)}): run "chmod 600 ${path}"`,
        { kind: 'stalling', location: { file: path } },
      );
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof GitfailoverError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new GitfailoverError(
      'E_SECRET_IDENTITY',
      code === 'ENOENT'
        ? `age identity ${path} (secrets.identity in ${cfg.file}) does not exist: run "gitfailover keygen -c ${cfg.file}" and add the recipient it prints on the primary ("gitfailover secrets add-recipient <node> <age1…>")`
        : `cannot read age identity ${path} (secrets.identity in ${cfg.file}): ${(err as Error).message}`,
      { kind: 'stalling', location: { file: path } },
    );
  }
  const ids = parseIdentityFile(text);
  if (ids.length === 0)
    throw new GitfailoverError(
      'E_SECRET_IDENTITY',
      `age identity ${path} (secrets.identity in ${cfg.file}) holds no AGE-SECRET-KEY-1… line: write it with "gitfailover keygen" or age-keygen`,
      { kind: 'stalling', location: { file: path } },
    );
  return ids;
}

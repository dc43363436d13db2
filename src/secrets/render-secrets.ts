import { readFileSync } from 'node:fs';
import picomatch from 'picomatch';
import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError } from '../errors.js';
import { renderFile, type RenderOptions } from '../render/render-file.js';
import { decryptWith, DecryptError, isSecretPath, plainPathOf } from './age.js';
import { loadIdentities } from './identity.js';
import { markSecret, type SecretMark } from './marks.js';

/**
 * The standby's side: every `<path>.age` of the repo is a secret, opened at render time with the
 * node's own identity and handed on as `<path>` (marked, so it is written 0600 and never shown).
 * Everything is decrypted before anything is applied: a secret this node cannot open refuses the
 * whole sync with the live dir as it was.
 */
export class SecretOpener {
  private identities: string[] | undefined;
  private mark: SecretMark | undefined;
  private readonly textual: (path: string) => boolean;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly commit: string,
    private readonly renderOpts: RenderOptions,
  ) {
    this.textual = cfg.secrets.textual.length > 0 ? picomatch([...cfg.secrets.textual], { dot: true }) : () => false;
  }

  /** `repoPath` (`….age`) -> its plaintext, rendered when declared textual. */
  async open(repoPath: string, ciphertext: Buffer): Promise<{ path: string; content: Buffer }> {
    const path = plainPathOf(repoPath);
    const refuse = (code: string, why: string, fix: string, cause?: unknown): never => {
      throw new GitfailoverError(
        code,
        `${repoPath} in commit ${this.commit.slice(0, 12)} is a secret that node ${this.cfg.node} cannot open: ${why}. Nothing was applied. ${fix}`,
        {
          kind: 'stalling',
          location: { file: repoPath, commit: this.commit },
          cause,
        },
      );
    };
    if (!this.identities) {
      try {
        this.identities = loadIdentities(this.cfg);
      } catch (err) {
        const why =
          err instanceof ConfigError ? `secrets.identity is not set in ${this.cfg.file}` : (err as Error).message;
        refuse(
          'E_SECRET_IDENTITY',
          why,
          `Give the node its identity ("gitfailover keygen -c ${this.cfg.file}"), add the recipient it prints on the primary ("gitfailover secrets add-recipient ${this.cfg.node} <age1…>", then "gitfailover secrets rekey"), and sync again`,
          err,
        );
      }
    }
    let plain: Buffer;
    try {
      plain = await decryptWith(ciphertext, this.identities!);
    } catch (err) {
      if (!(err instanceof DecryptError)) throw err;
      if (err.reason === 'not-a-recipient') {
        refuse(
          'E_SECRET_NOT_RECIPIENT',
          `${err.message} (this node is not one of its recipients, or its identity changed)`,
          `On the primary, add this node's recipient ("gitfailover secrets add-recipient ${this.cfg.node} <age1… printed by gitfailover keygen>") and run "gitfailover secrets rekey"; then sync again`,
          err,
        );
      }
      refuse(
        'E_SECRET_MALFORMED',
        err.message,
        'Fix the file in the repo (git revert the commit, or encrypt it again with "age -r") and push',
        err,
      );
    }
    const content = this.textual(path)
      ? renderFile(path, plain!, { ...this.renderOpts, substituteGlobs: ALL })
      : plain!;
    return { path, content: markSecret(content, this.secretMark()) };
  }

  private secretMark(): SecretMark {
    this.mark ??= {
      mode: 0o600,
      uid: idOf(this.cfg.secrets.owner, '/etc/passwd', this.cfg, 'owner'),
      gid: idOf(this.cfg.secrets.group, '/etc/group', this.cfg, 'group'),
    };
    return this.mark;
  }
}

const ALL = ['**'];

/**
 * Opens the secrets among the rendered files of a sync, in place: `x.age` becomes `x` in the
 * domain's or the globals' map, and removals of `x.age` become removals of `x`. Returns the live
 * paths that are secrets (for the dry run, which must never print them).
 */
export async function openRenderedSecrets(
  opener: SecretOpener,
  rendered: { domains: Map<string, Map<string, Buffer>>; globals: Map<string, Buffer> },
  plan: { removeGlobal: string[] },
  domainsDir: string,
): Promise<Set<string>> {
  const secrets = new Set<string>();
  const clash = (repoPath: string) => {
    throw new GitfailoverError(
      'E_SECRET_CONFLICT',
      `${repoPath} and ${plainPathOf(repoPath)} are both in the repo: the secret would overwrite the plain file. Nothing was applied; remove one of them and push`,
      {
        kind: 'stalling',
        location: { file: repoPath },
      },
    );
  };
  for (const [p, content] of [...rendered.globals]) {
    if (!isSecretPath(p)) continue;
    const opened = await opener.open(p, content);
    if (rendered.globals.has(opened.path)) clash(p);
    rendered.globals.delete(p);
    rendered.globals.set(opened.path, opened.content);
    secrets.add(opened.path);
  }
  for (const [d, files] of [...rendered.domains]) {
    if (![...files.keys()].some(isSecretPath)) continue; // the same Map object: a domain built ahead stays valid
    const next = new Map<string, Buffer>();
    for (const [rel, content] of files) {
      if (!isSecretPath(rel)) {
        next.set(rel, content);
        continue;
      }
      const opened = await opener.open(`${domainsDir}/${d}/${rel}`, content);
      const plainRel = plainPathOf(rel);
      if (files.has(plainRel)) clash(`${domainsDir}/${d}/${rel}`);
      next.set(plainRel, opened.content);
      secrets.add(`${domainsDir}/${d}/${plainRel}`);
    }
    rendered.domains.set(d, next);
  }
  const removed = plan.removeGlobal
    .map((p) => (isSecretPath(p) ? plainPathOf(p) : p))
    .filter((p) => !rendered.globals.has(p));
  for (const p of plan.removeGlobal) if (isSecretPath(p)) secrets.add(plainPathOf(p));
  plan.removeGlobal.splice(0, plan.removeGlobal.length, ...removed);
  return secrets;
}

/** Opens the secrets among files read from a commit (rollback's reading of the applied commit), in place. */
export async function openTargetSecrets(
  opener: SecretOpener,
  files: { path: string; content: Buffer }[],
): Promise<void> {
  for (const f of files) {
    if (!isSecretPath(f.path)) continue;
    const opened = await opener.open(f.path, f.content);
    f.path = opened.path;
    f.content = opened.content;
  }
}

/** A user or group name (or number) -> its id, from the system's files; undefined keeps the process's own. */
function idOf(v: string | number | undefined, file: string, cfg: NodeConfig, field: string): number | undefined {
  if (v === undefined || typeof v === 'number') return v;
  if (/^\d+$/.test(v)) return Number(v);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    // no such file: reported below as an unknown name
  }
  for (const line of text.split('\n')) {
    const [name, , id] = line.split(':');
    if (name === v && id !== undefined && /^\d+$/.test(id)) return Number(id);
  }
  throw new ConfigError(
    `${cfg.file}: secrets.${field}: no ${field} named ${JSON.stringify(v)} on this host (${file}); give an existing name or a number`,
    { file: cfg.file, field: `secrets.${field}` },
  );
}

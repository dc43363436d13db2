import { lstatSync, readFileSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { formatPath, parseYamlSource, positionOf, type YamlSource } from '../util/yaml-source.js';
import { registerSecretVariable } from '../util/child-env.js';
import { nodeFileSchema, type NodeFile } from './schema.js';
import { DEFAULT_MAX_FILE_SIZE } from '../model/admit.js';

/** A loaded node file: validated, defaults filled, secrets resolved, paths made absolute. */
/** A loaded node file: maxFileSize resolved (repo.maxFileSize, else its older name live.maxFileSize, else the default; both then say it). */
export type NodeConfig = NodeFile & {
  file: string;
  repo: { maxFileSize: number };
  live: { maxFileSize: number };
  /** Secret fields written in the node file as plain text rather than env:NAME or file:PATH (warned about at start and by doctor). */
  plaintextSecrets?: string[];
};

export interface LoadOptions {
  /** `-c FILE` */
  file?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** `-c FILE`, else `$GITFAILOVER_CONFIG`, else `./gitfailover.yaml`. */
export function nodeFilePath(opts: LoadOptions = {}): string {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  return resolve(cwd, opts.file ?? env.GITFAILOVER_CONFIG ?? 'gitfailover.yaml');
}

export function loadNodeFile(opts: LoadOptions = {}): NodeConfig {
  const file = nodeFilePath(opts);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `node file ${file} does not exist: pass -c FILE or set GITFAILOVER_CONFIG`
        : `cannot read node file ${file}: ${(err as Error).message}`,
      { file },
    );
  }
  return parseNodeFile(file, text, opts.env ?? process.env);
}

export function parseNodeFile(file: string, text: string, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  const src = parseYamlSource(file, text);
  if (src.errors.length > 0) {
    const e = src.errors[0]!;
    throw new ConfigError(`${file}:${e.line}:${e.col}: ${e.message}`, { file, line: e.line, col: e.col });
  }
  const parsed = nodeFileSchema.safeParse(src.value ?? {});
  if (!parsed.success) throw schemaError(src, parsed.error.issues);
  const cfg = parsed.data;
  const base = dirname(file);
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const plaintextSecrets: string[] = [];
  const secretOf = (value: string | undefined, path: (string | number)[]) => {
    if (value === undefined) return undefined;
    if (!value.startsWith('env:') && !value.startsWith('file:')) plaintextSecrets.push(formatPath(path));
    return resolveSecret(value, src, path, env, base);
  };

  const maxFileSize = cfg.repo.maxFileSize ?? cfg.live.maxFileSize ?? DEFAULT_MAX_FILE_SIZE;
  if (
    cfg.repo.maxFileSize !== undefined &&
    cfg.live.maxFileSize !== undefined &&
    cfg.repo.maxFileSize !== cfg.live.maxFileSize
  ) {
    const { line, col } = positionOf(src, ['live', 'maxFileSize']);
    throw new ConfigError(
      `${file}:${line}:${col}: live.maxFileSize: ${cfg.live.maxFileSize} differs from repo.maxFileSize (${cfg.repo.maxFileSize}); live.maxFileSize is the older name of repo.maxFileSize: keep only repo.maxFileSize`,
      { file, line, col, field: 'live.maxFileSize' },
    );
  }
  const stateDir = at(cfg.repo.stateDir);
  const liveDir = at(cfg.live.dir);
  checkFolders(src, stateDir, liveDir);

  const loaded: NodeConfig = {
    ...cfg,
    file,
    repo: {
      ...cfg.repo,
      maxFileSize,
      remote: isLocalPath(cfg.repo.remote) ? at(cfg.repo.remote) : cfg.repo.remote,
      stateDir,
      auth: cfg.repo.auth && {
        username: cfg.repo.auth.username,
        password: secretOf(cfg.repo.auth.password, ['repo', 'auth', 'password']),
        tokenFile: cfg.repo.auth.tokenFile && at(cfg.repo.auth.tokenFile),
      },
      verify: cfg.repo.verify && {
        ...cfg.repo.verify,
        allowedSigners: cfg.repo.verify.allowedSigners && at(cfg.repo.verify.allowedSigners),
        gpgKeyring: cfg.repo.verify.gpgKeyring?.map(at),
      },
      sshKey: cfg.repo.sshKey && at(cfg.repo.sshKey),
      knownHosts: cfg.repo.knownHosts && at(cfg.repo.knownHosts),
    },
    live: { ...cfg.live, dir: liveDir, maxFileSize },
    record: { ...cfg.record, signingKey: cfg.record.signingKey && at(cfg.record.signingKey) },
    notify: { ...cfg.notify, secret: secretOf(cfg.notify.secret, ['notify', 'secret']) },
    triggers: cfg.triggers.map((t, i) => ({
      ...t,
      ...(t.email?.smtp.pass !== undefined
        ? {
            email: {
              ...t.email,
              smtp: { ...t.email.smtp, pass: secretOf(t.email.smtp.pass, ['triggers', i, 'email', 'smtp', 'pass']) },
            },
          }
        : {}),
      ...(t.webhook?.secret !== undefined
        ? { webhook: { ...t.webhook, secret: secretOf(t.webhook.secret, ['triggers', i, 'webhook', 'secret']) } }
        : {}),
    })),
  };
  if (plaintextSecrets.length > 0) loaded.plaintextSecrets = plaintextSecrets;
  return loaded;
}

/** The warning for secrets written in the node file itself, or undefined. */
export function plaintextSecretWarning(cfg: NodeConfig): string | undefined {
  const fields = cfg.plaintextSecrets ?? [];
  if (fields.length === 0) return undefined;
  return `${cfg.file}: ${fields.join(', ')} ${fields.length > 1 ? 'are' : 'is'} written in plain text in the node file: anyone who can read the file (or a backup of it) has the secret. Write "env:NAME" (and set NAME in the service's environment file) or "file:PATH" (a file readable by this service only) instead`;
}

/**
 * The state dir and the live dir are two separate trees: a state dir inside the live dir lets a
 * commit overwrite the node's own clone and state (and a sync would replicate them), a live dir
 * inside the state dir mixes served files with the node's bookkeeping. Each must be a folder or
 * not exist yet below a folder. Checked on the real paths, so a symbolic link does not hide an overlap.
 */
function checkFolders(src: YamlSource, stateDir: string, liveDir: string): void {
  const fail = (path: (string | number)[], message: string) => {
    const { line, col } = positionOf(src, path);
    return new ConfigError(`${src.file}:${line}:${col}: ${formatPath(path)}: ${message}`, {
      file: src.file,
      line,
      col,
      field: formatPath(path),
    });
  };
  for (const [dir, path] of [
    [stateDir, ['repo', 'stateDir']],
    [liveDir, ['live', 'dir']],
  ] as const) {
    const blocker = nonFolderOnPath(dir);
    if (blocker) {
      throw fail(
        [...path],
        `${blocker === dir ? `${dir} is` : `${blocker} (on the way to ${dir}) is`} a file, not a folder: point ${formatPath([...path])} at a folder, or move that file away`,
      );
    }
  }
  const a = realish(stateDir);
  const b = realish(liveDir);
  const inside = (x: string, y: string) => {
    const r = relative(y, x);
    return r === '' || (r !== '..' && !r.startsWith(`..${sep}`) && !isAbsolute(r));
  };
  if (inside(a, b) || inside(b, a)) {
    throw fail(
      ['repo', 'stateDir'],
      `the state dir ${stateDir} and the live dir ${liveDir} overlap (${a === b ? 'they are the same folder' : inside(a, b) ? 'the state dir is inside the live dir' : 'the live dir is inside the state dir'}): a commit could then overwrite the node's own clone and state. Put repo.stateDir outside live.dir, e.g. /var/lib/gitfailover`,
    );
  }
}

/** The first existing path on the way to `dir` that is not a folder (or undefined). */
function nonFolderOnPath(dir: string): string | undefined {
  for (let p = dir; ; p = dirname(p)) {
    try {
      const st = lstatSync(p);
      if (st.isDirectory()) return undefined;
      if (st.isSymbolicLink()) {
        try {
          return realpathSync(p) && lstatSync(realpathSync(p)).isDirectory() ? undefined : p;
        } catch {
          return undefined; // a dangling link: the mkdir will say so
        }
      }
      return p;
    } catch {
      if (dirname(p) === p) return undefined;
    }
  }
}

/** The real path of the deepest existing ancestor, with the rest appended. */
function realish(dir: string): string {
  let rest = '';
  for (let p = dir; ; p = dirname(p)) {
    try {
      return resolve(realpathSync(p), rest);
    } catch {
      if (dirname(p) === p) return dir;
      rest = rest ? `${basename(p)}/${rest}` : basename(p);
    }
  }
}

/** A remote that is a plain path (not a URL nor scp-like `host:path`). */
export function isLocalPath(remote: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(remote)) return false;
  if (/^[^/]+:/.test(remote) && !/^[A-Za-z]:[\\/]/.test(remote)) return false;
  return true;
}

function schemaError(src: YamlSource, issues: z.core.$ZodIssue[]): ConfigError {
  const lines = issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    // An unknown key is at fault itself: point at it, not at the mapping that holds it.
    const unknownKey = issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined;
    if (unknownKey) path.push(issue.keys[0]!);
    const { line, col } = positionOf(src, path, { key: unknownKey });
    const field = formatPath(path) || '(top level)';
    return { line, col, field, text: `${src.file}:${line}:${col}: ${field}: ${describeIssue(issue)}` };
  });
  const first = lines[0]!;
  // Two checks of one field that fail alike (an integer check and a range) say it once.
  return new ConfigError(
    [...new Set(lines.map((l) => l.text))].join('\n'),
    { file: src.file, line: first.line, col: first.col, field: first.field },
    {
      problems: lines,
    },
  );
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')} (see schema/node-file.schema.json for the fields)`;
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined'))
    return `is required (${issue.expected})`;
  return issue.message;
}

function resolveSecret(
  value: string,
  src: YamlSource,
  path: (string | number)[],
  env: NodeJS.ProcessEnv,
  base: string,
): string {
  const loc = () => {
    const { line, col } = positionOf(src, path);
    return { file: src.file, line, col, field: formatPath(path) };
  };
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    registerSecretVariable(name); // never handed to a child process
    const v = env[name];
    if (v === undefined || v === '') {
      const l = loc();
      throw new ConfigError(
        `${l.file}:${l.line}:${l.col}: ${l.field}: environment variable ${name} is not set (export it, or put it in the service's environment file)`,
        l,
      );
    }
    return v;
  }
  if (value.startsWith('file:')) {
    const p = value.slice(5);
    try {
      return readFileSync(isAbsolute(p) ? p : resolve(base, p), 'utf8').trim();
    } catch (err) {
      const l = loc();
      throw new ConfigError(
        `${l.file}:${l.line}:${l.col}: ${l.field}: cannot read secret file ${p}: ${(err as Error).message}`,
        l,
      );
    }
  }
  return value;
}

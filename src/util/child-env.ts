/**
 * The environment of every child process, by kind (README, "Child processes"). None ever holds
 * the tool's own secrets: no GITFAILOVER_* variable of the daemon's environment (the notify
 * secret among them) and none of the variables the node file names as `env:NAME` secrets (SMTP
 * passwords, git tokens). A child that needs a credential gets it from its own configuration.
 *
 *  - `git`: only what git and ssh need (PATH, HOME, locale, proxies, CA bundles, SSH agent,
 *    GIT_* and SSH_* settings); credentials arrive per process through `extra` (remote-access.ts).
 *  - `command` (commands.*) and `exec` (exec triggers): the daemon's environment minus those
 *    secrets, plus the GITFAILOVER_* variables describing the action or event.
 */
export type ChildKind = 'git' | 'command' | 'exec';

/** Variables the node file resolved secrets from (`env:NAME`): never handed to a child. */
const secretNames = new Set<string>();

export function registerSecretVariable(name: string): void {
  secretNames.add(name);
}

const GIT_KEEP =
  /^(PATH|HOME|USER|LOGNAME|LANG|LANGUAGE|TZ|TMPDIR|XDG_CONFIG_HOME|SSH_AUTH_SOCK|GNUPGHOME|(HTTPS?|ALL|NO)_PROXY|(https?|all|no)_proxy|SSL_CERT_(FILE|DIR)|CURL_CA_BUNDLE|GIT_.*|SSH_.*|LC_.*)$/;

export function childEnv(
  kind: ChildKind,
  extra: NodeJS.ProcessEnv = {},
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) {
    if (v === undefined || k.startsWith('GITFAILOVER_') || secretNames.has(k)) continue;
    if (kind === 'git' && !GIT_KEEP.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

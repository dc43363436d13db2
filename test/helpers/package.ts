import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './fixture.js';

/** The package as npm sees it: pack it, install it, run what got installed. */

export const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  exports?: Record<string, string>;
  main?: string;
  files: string[];
  dependencies: Record<string, string>;
};

export interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment of a child npm: the caller's, less the npm_* variables that `npm test` sets
 * (npm_config_prefix, npm_package_*, ...), so the child behaves as on a user's shell.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'VITEST' && k !== 'NODE_OPTIONS') env[k] = v;
  return {
    ...env,
    NO_COLOR: '1',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
    ...extra,
  };
}

export function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, env: opts.env ?? cleanEnv(), timeout: opts.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export async function mustRun(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<Ran> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code} in ${opts.cwd}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * `npm pack` of the checkout into `dest`; returns the tarball's path. Scripts are skipped: the
 * tests run after `npm test`'s build, and `prepare` would compile dist/ again under their feet.
 */
export async function packTarball(dest: string): Promise<string> {
  const r = await mustRun('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], { cwd: ROOT });
  const [info] = JSON.parse(r.stdout) as { filename: string }[];
  return join(dest, info!.filename);
}

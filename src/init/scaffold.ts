import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GitfailoverError } from '../errors.js';
import { packageInfo } from '../util/package-info.js';

/**
 * `gitfailover init`: copy the config-repo template (templates/config-repo) into a folder. The
 * template is plain files in the package, so what a user gets is what they can read on GitHub.
 */

/**
 * templates/config-repo, found relative to this file: `dist/init/scaffold.js` and
 * `src/init/scaffold.ts` are both two levels under the package root.
 */
export function templateDir(): string {
  return fileURLToPath(new URL('../../templates/config-repo', import.meta.url));
}

/**
 * npm drops files named `.gitignore` and `.npmignore` from packages, so such files are stored
 * in the template without their dot (`gitignore`) and renamed on copy.
 */
const RENAMED: Record<string, string> = { gitignore: '.gitignore', npmignore: '.npmignore' };

/**
 * Written as the version of the gitfailover that runs `init`, so that the CI workflow and the
 * README pin what they run (`npx gitfailover@0.1.0`): a bare name would run whatever is
 * published under it later.
 */
export const VERSION_TOKEN = '__GITFAILOVER_VERSION__';

export interface ScaffoldResult {
  dir: string;
  /** Paths written, relative to `dir`, `/`-separated, sorted. */
  files: string[];
}

export function scaffoldConfigRepo(
  dir: string,
  opts: { force?: boolean; template?: string; version?: string } = {},
): ScaffoldResult {
  const template = opts.template ?? templateDir();
  const version = opts.version ?? packageInfo().version;
  if (!existsSync(template)) {
    throw new GitfailoverError(
      'E_TEMPLATE_MISSING',
      `the config-repo template ${template} is missing from the installation`,
    );
  }
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) {
      throw new GitfailoverError('E_INIT_NOT_DIR', `${dir} exists and is not a directory`, { data: { dir } });
    }
    const present = readdirSync(dir);
    if (present.length > 0 && !opts.force) {
      throw new GitfailoverError(
        'E_INIT_NOT_EMPTY',
        `${dir} is not empty (${present.length} entr${present.length === 1 ? 'y' : 'ies'}); choose an empty folder, or pass --force to write the template over it`,
        { data: { dir, entries: present.length } },
      );
    }
  }
  const files: string[] = [];
  copyTree(template, dir, '', files, version);
  return { dir, files: files.sort() };
}

function copyTree(from: string, to: string, rel: string, files: string[], version: string): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from).sort()) {
    const src = join(from, name);
    const outName = RENAMED[name] ?? name;
    const dst = join(to, outName);
    const relOut = rel ? `${rel}/${outName}` : outName;
    if (statSync(src).isDirectory()) copyTree(src, dst, relOut, files, version);
    else {
      mkdirSync(dirname(dst), { recursive: true });
      const bytes = readFileSync(src);
      if (bytes.includes(VERSION_TOKEN)) writeFileSync(dst, bytes.toString('utf8').replaceAll(VERSION_TOKEN, version));
      else copyFileSync(src, dst);
      files.push(relOut);
    }
  }
}

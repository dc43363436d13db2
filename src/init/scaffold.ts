import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GitfailoverError } from '../errors.js';

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

export interface ScaffoldResult {
  dir: string;
  /** Paths written, relative to `dir`, `/`-separated, sorted. */
  files: string[];
}

export function scaffoldConfigRepo(dir: string, opts: { force?: boolean; template?: string } = {}): ScaffoldResult {
  const template = opts.template ?? templateDir();
  if (!existsSync(template)) {
    throw new GitfailoverError('E_TEMPLATE_MISSING', `the config-repo template ${template} is missing from the installation`);
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
  copyTree(template, dir, '', files);
  return { dir, files: files.sort() };
}

function copyTree(from: string, to: string, rel: string, files: string[]): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from).sort()) {
    const src = join(from, name);
    const outName = RENAMED[name] ?? name;
    const dst = join(to, outName);
    const relOut = rel ? `${rel}/${outName}` : outName;
    if (statSync(src).isDirectory()) copyTree(src, dst, relOut, files);
    else {
      mkdirSync(dirname(dst), { recursive: true });
      copyFileSync(src, dst);
      files.push(relOut);
    }
  }
}

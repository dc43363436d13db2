import { git } from './git.js';

/** What `git --version` prints (`git version 2.39.5`). */
export async function gitVersionText(): Promise<string> {
  return (await git(['--version'])).stdout.trim();
}

/** A new bare repository at `path` whose first branch is `branch`: a remote for the demo. */
export async function initBareRepo(path: string, branch = 'main'): Promise<void> {
  await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, path]);
}

/** The commit `rev` names in the repository at `gitDir`. */
export async function revParse(gitDir: string, rev: string): Promise<string> {
  return (await git(['rev-parse', rev], { gitDir })).stdout.trim();
}

/** `git log --format=<format>` of `rev` as git prints it, for showing to a person. */
export async function logText(gitDir: string, rev: string, format: string, max?: number): Promise<string> {
  return (await git(['log', ...(max ? [`-${max}`] : []), `--format=${format}`, rev], { gitDir })).stdout;
}

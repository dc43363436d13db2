import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/fixture.js';

/**
 * git is spoken only in src/repo/ (NodeRepo, GitIndex and the repo/ functions): no other folder
 * starts git, calls a `git(...)` runner, or spells a git subcommand in an argv list. The rule
 * that only repo/ may import repo/git.ts is in .dependency-cruiser.cjs.
 */
const SUBCOMMANDS = [
  'add',
  'am',
  'apply',
  'blame',
  'branch',
  'cat-file',
  'checkout',
  'cherry-pick',
  'clone',
  'commit',
  'commit-tree',
  'config',
  'count-objects',
  'diff',
  'diff-files',
  'diff-index',
  'diff-tree',
  'fetch',
  'fetch-pack',
  'for-each-ref',
  'fsck',
  'gc',
  'hash-object',
  'index-pack',
  'init',
  'log',
  'ls-files',
  'ls-remote',
  'ls-tree',
  'maintenance',
  'merge',
  'merge-base',
  'merge-file',
  'merge-tree',
  'mktree',
  'mv',
  'pack-objects',
  'prune',
  'pull',
  'push',
  'read-tree',
  'rebase',
  'repack',
  'reset',
  'rev-list',
  'rev-parse',
  'revert',
  'rm',
  'send-pack',
  'show',
  'show-ref',
  'stash',
  'status',
  'switch',
  'symbolic-ref',
  'tag',
  'unpack-objects',
  'update-index',
  'update-ref',
  'upload-pack',
  'verify-commit',
  'verify-tag',
  'worktree',
  'write-tree',
];
const quoted = `['"\`](${SUBCOMMANDS.join('|')})['"\`]`;
const RULES: { name: string; re: RegExp }[] = [
  { name: 'runs git', re: /\b(spawn|spawnSync|execFile|execFileSync|exec|execSync|runProcess)\s*\(\s*['"`]git['"`]/ },
  { name: 'calls a git runner', re: /(^|[^\w.])git\(|\.git\(/ },
  // an argv list (not an index: `x['status']`): a subcommand first, maybe after spread options (`[...sign.config, 'commit-tree', ...]`)
  {
    name: 'spells a git argv',
    re: new RegExp(`(^|[^\\w\\])])\\[\\s*(\\.\\.\\.[\\w.]+,\\s*|'-c',\\s*[^,]+,\\s*)*${quoted}\\s*[,\\]]`),
  },
  // plumbing names are never anything but git subcommands
  {
    name: 'names git plumbing',
    re: new RegExp(`['"\`](${SUBCOMMANDS.filter((s) => s.includes('-')).join('|')})['"\`]`),
  },
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Code without comments, line numbers kept (a comment may say "git add"). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

function findings(files: string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    code(readFileSync(file, 'utf8'))
      .split('\n')
      .forEach((line, i) => {
        for (const rule of RULES)
          if (rule.re.test(line)) out.push(`${relative(ROOT, file)}:${i + 1} ${rule.name}: ${line.trim()}`);
      });
  }
  return out;
}

describe('git only in src/repo/', () => {
  const src = join(ROOT, 'src');
  it('no other folder runs git or spells a git subcommand', () => {
    expect(findings(sources(src).filter((f) => !f.startsWith(join(src, 'repo'))))).toEqual([]);
  });

  it('the scan finds what repo/ does (so an empty list above means something)', () => {
    const inRepo = findings(sources(join(src, 'repo')));
    for (const rule of RULES)
      expect(
        inRepo.some((f) => f.includes(` ${rule.name}: `)),
        rule.name,
      ).toBe(true);
  });
});

import { existsSync, statSync } from 'node:fs';
import { escapeControl } from '../util/escape.js';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { DEFAULT_DOMAINS_DIR, domainsDirOf } from '../model/layout.js';
import { DEFAULT_MAX_FILE_SIZE } from '../model/limits.js';
import type { Problem } from '../model/parse.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

/** `gitfailover validate [DIR] [--format text|json|github] [--node FILE] [--max-file-size BYTES]` */

const FORMATS = ['text', 'json', 'github'] as const;
type Format = (typeof FORMATS)[number];

interface ValidateFlags {
  format: string;
  node?: string;
  maxFileSize?: string;
  maxFiles?: string;
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'check a config repo: YAML and schemas, duplicate ip:port, unsafe names, symlinks, sizes, plaintext passwords',
    )
    .argument('[dir]', 'the config repo (a checkout)', '.')
    .option('--format <format>', `output: ${FORMATS.join(', ')} (github prints workflow annotations)`, 'text')
    .option('--node <file>', 'a node file: also check that its substitution.ips covers every service IP')
    .option('--max-files <count>', "most files allowed (default 500000, or the node file's repo.maxFiles)")
    .option(
      '--max-file-size <bytes>',
      `largest file allowed (default ${DEFAULT_MAX_FILE_SIZE}, or the node file's repo.maxFileSize)`,
    )
    .action(async (dir: string, flags: ValidateFlags) => {
      const code = await runValidate(dir, flags);
      if (code !== EXIT_OK) throw new Exit(code);
    });
}

async function runValidate(dir: string, flags: ValidateFlags): Promise<number> {
  if (!(FORMATS as readonly string[]).includes(flags.format))
    return usage(`unknown --format "${flags.format}": use one of ${FORMATS.join(', ')}`);
  const format = flags.format as Format;
  let maxFileSize: number | undefined;
  if (flags.maxFileSize !== undefined) {
    maxFileSize = Number(flags.maxFileSize);
    if (!/^\d+$/.test(flags.maxFileSize) || maxFileSize <= 0)
      return usage(`--max-file-size "${flags.maxFileSize}" is not a positive number of bytes`);
  }
  let maxFiles: number | undefined;
  if (flags.maxFiles !== undefined) {
    maxFiles = Number(flags.maxFiles);
    if (!/^\d+$/.test(flags.maxFiles) || maxFiles <= 0)
      return usage(`--max-files "${flags.maxFiles}" is not a positive number`);
  }
  const root = resolve(dir);
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    return usage(`${dir} does not exist: give the folder of a config repo`);
  }
  if (!isDir) return usage(`${dir} is not a directory: give the folder of a config repo`);

  // A bad node file is a configuration error: loadNodeFile throws ConfigError, main exits 2.
  const node = flags.node === undefined ? undefined : await loadNodeFile({ file: flags.node });
  const domainsDir = node ? domainsDirOf(node.live.domains) : DEFAULT_DOMAINS_DIR;
  // An empty or wrong folder has no problems to find: saying "no problems" there would let a CI
  // job that checks out the wrong path pass.
  if (!existsSync(join(root, 'server.yaml')) && !existsSync(join(root, domainsDir))) {
    const message = `${dir} is not a config repo: it has neither server.yaml nor ${domainsDir}/; give the folder of a config repo, or create one with \`gitfailover init ${dir}\``;
    if (format === 'github') process.stdout.write(`::error title=E_NOT_CONFIG_REPO::${escapeData(message)}\n`);
    if (format === 'json')
      process.stdout.write(
        `${JSON.stringify({ ok: false, dir, problems: [], error: { code: 'E_NOT_CONFIG_REPO', message } }, null, 2)}\n`,
      );
    process.stderr.write(`gitfailover validate: ${message}\n`);
    return EXIT_FAILED;
  }
  const { validateTree } = await import('../model/validate.js');
  const { dirTreeSource } = await import('../model/tree-source.js');
  const problems = await validateTree(dirTreeSource(root), {
    maxFileSize: maxFileSize ?? node?.repo.maxFileSize,
    maxFiles: maxFiles ?? node?.repo.maxFiles,
    domainsDir: node ? domainsDir : undefined,
    node,
  });

  // Paths as the user can open them: relative to where the command runs, like a compiler's.
  const shown = (p: Problem) => {
    const rel = relative(process.cwd(), join(root, p.file));
    return rel === '' || rel.startsWith('..') ? join(root, p.file) : rel;
  };
  process.stdout.write(render(format, problems, dir, shown));
  return problems.length === 0 ? EXIT_OK : EXIT_FAILED;
}

function usage(message: string): number {
  process.stderr.write(`gitfailover validate: ${message}\n`);
  return EXIT_USAGE;
}

export function render(
  format: Format,
  problems: readonly Problem[],
  dir: string,
  shown: (p: Problem) => string,
): string {
  if (format === 'json') return `${JSON.stringify({ ok: problems.length === 0, dir, problems }, null, 2)}\n`;
  if (format === 'github') {
    return problems
      .map(
        (p) =>
          `::error file=${escapeProperty(escapeControl(shown(p)))},line=${p.line},col=${p.col},title=${escapeProperty(p.code)}::${escapeData(escapeControl(p.message))}\n`,
      )
      .join('');
  }
  const lines = problems.map((p) => `${escapeControl(`${shown(p)}:${p.line}:${p.col}: ${p.message} [${p.code}]`)}\n`);
  const files = new Set(problems.map((p) => p.file)).size;
  lines.push(
    problems.length === 0
      ? `${dir}: no problems found\n`
      : `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}\n`,
  );
  return lines.join('');
}

/** GitHub workflow command escaping (actions/toolkit's command.ts). */
function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

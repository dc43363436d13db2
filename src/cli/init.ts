import { resolve } from 'node:path';
import type { Command } from 'commander';
import { GitfailoverError } from '../errors.js';
import { packageInfo } from '../util/package-info.js';
import { EXIT_USAGE, Exit } from './exit.js';

/** `gitfailover init <dir> [--force]` */
export function registerInit(program: Command): void {
  program
    .command('init')
    .description(
      'scaffold a config repo: server.yaml, an example domain, a README and a CI workflow that validates every push',
    )
    .argument('<dir>', 'the folder to create (must be empty)')
    .option('--force', 'write the template into a folder that is not empty (template files are overwritten)')
    .action(async (dir: string, flags: { force?: boolean }) => {
      const { scaffoldConfigRepo } = await import('../init/scaffold.js');
      let files: string[];
      try {
        files = scaffoldConfigRepo(resolve(dir), { force: flags.force }).files;
      } catch (err) {
        // A folder we will not write into is a usage error (exit 2), not a failed operation.
        if (err instanceof GitfailoverError && err.code.startsWith('E_INIT_')) {
          process.stderr.write(`gitfailover init: ${err.message}\n`);
          throw new Exit(EXIT_USAGE);
        }
        throw err;
      }
      const out = [
        `Created a config repo in ${dir} (${files.length} files):`,
        ...files.map((f) => `  ${f}`),
        '',
        'Next steps:',
        `  1. Edit the example domain in ${dir}/domains/acme/, or replace it with your own domains.`,
        `  2. Check it:            gitfailover validate ${dir}`,
        `  3. Make it a git repo:  cd ${dir} && git init -b main && git add . && git commit -m "Initial configuration"`,
        '  4. Push it to the remote your nodes share (repo.remote in each gitfailover.yaml).',
        `  5. The CI workflow .github/workflows/config-check.yml runs gitfailover@${packageInfo().version}: raise that version when you upgrade the servers.`,
        '',
      ];
      process.stdout.write(out.join('\n'));
    });
}

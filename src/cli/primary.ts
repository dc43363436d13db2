import type { Command } from 'commander';
import { loadNodeFile } from '../config/load.js';
import { record } from '../record/record.js';
import { EXIT_FAILED, Exit } from './main.js';

export function registerPrimaryCommands(program: Command): void {
  program
    .command('record')
    .description("commit the primary's live dir once (one commit per change) and push it")
    .option('-c, --config <file>', 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)')
    .option('-m, --message <text>', 'your own words, added to the generated commit message')
    .option('--actor <name>', 'who made the change: "Name" or "Name <email>" (default: the login user)')
    .action(async (o: { config?: string; message?: string; actor?: string }) => {
      const cfg = loadNodeFile({ file: o.config });
      const r = await record(cfg, { message: o.message, actor: o.actor });
      for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
      if (!r.commit) process.stdout.write('no change\n');
      else process.stdout.write(`recorded ${r.commit.slice(0, 12)} ${r.subject}\n`);
      if (r.pushed) process.stdout.write(`pushed to ${cfg.repo.branch}\n`);
      if (r.pushError) {
        process.stderr.write(`gitfailover: ${r.pushError.message}\n`);
        process.stderr.write(`unpushed: ${r.unpushed} (kept in ${cfg.repo.stateDir}; the next record or the running primary pushes them)\n`);
        // The change is safe locally: a transient push failure is not a failed record, a rejection is.
        if (r.pushError.kind === 'stalling') throw new Exit(EXIT_FAILED);
      }
    });
}

import { Command, CommanderError } from 'commander';
import {
  ConfigError,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  GitfailoverError,
  classOfError,
  errorMessage,
  exitCodeOf,
  formatLocation,
} from '../errors.js';
import { registerInit } from './init.js';
import { registerValidate } from './validate.js';
import { registerPrimaryCommands } from './primary.js';
import { registerStandbyCommands } from './standby.js';
import { registerRunCommands } from './run.js';
import { registerTriggersCommands } from './triggers.js';
import { registerDoctor } from './doctor.js';
import { registerRoleCommands } from './role.js';
import { registerSecretsCommands } from './secrets.js';
import { registerVrrpCommands } from './vrrp.js';
import { packageInfo } from '../util/package-info.js';

import { Exit } from './exit.js';

export { EXIT_OK, EXIT_FAILED, EXIT_USAGE, Exit };

export function buildProgram(): Command {
  const program = new Command('gitfailover')
    .description("Keep a failover server's configuration identical to production's through git.")
    .version(packageInfo().version)
    .showHelpAfterError('(run gitfailover --help for usage)')
    .exitOverride();
  registerInit(program);
  registerValidate(program);
  registerPrimaryCommands(program);
  registerStandbyCommands(program);
  registerRunCommands(program);
  registerTriggersCommands(program);
  registerDoctor(program);
  registerRoleCommands(program);
  registerSecretsCommands(program);
  registerVrrpCommands(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof Exit) return err.code;
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return EXIT_OK;
    return EXIT_USAGE; // commander has printed the message
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`gitfailover: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (err instanceof GitfailoverError) {
    const where = formatLocation(err.location);
    const msg = where && !err.message.includes(where) ? `${where}: ${err.message}` : err.message;
    process.stderr.write(`gitfailover: ${msg}\n`);
    return exitCodeOf(classOfError(err));
  }
  process.stderr.write(`gitfailover: ${errorMessage(err)}\n`);
  if (process.env.GITFAILOVER_DEBUG) console.error(err);
  return EXIT_FAILED;
}

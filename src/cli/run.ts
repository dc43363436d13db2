import type { Command } from 'commander';
import { loadNodeFile } from './node-file.js';

const CONFIG_HELP = 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)';

/**
 * `gitfailover run`: the one long-running process of a node. `primary` and `standby` are the same
 * process under their old names (units and scripts written for them keep working): the role served
 * is always the node's role (stateDir/role.json, else the node file), followed in place.
 */
export function registerRunCommands(program: Command): void {
  const names = [
    [
      'run',
      'run this node: one listener; as a standby sync, as the primary record, push and notify; follows promote/demote in place',
    ],
    ['primary', 'the same as "run" (the name of a node that starts as the primary)'],
    ['standby', 'the same as "run" (the name of a node that starts as a standby)'],
  ] as const;
  for (const [name, description] of names) {
    program
      .command(name)
      .description(description)
      .option('-c, --config <file>', CONFIG_HELP)
      .option('--log-format <format>', 'text (one line per event) or json (JSON lines, for journald/Loki)', 'text')
      .action(async (o: { config?: string; logFormat?: string }) => {
        const cfg = await loadNodeFile({ file: o.config });
        const { runNode } = await import('../daemon/supervisor.js');
        await runNode(cfg, { logFormat: o.logFormat === 'json' ? 'json' : 'text', command: name });
      });
  }
}

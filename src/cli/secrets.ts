import type { Command } from 'commander';
import type { MetaCommitResult } from '../record/manage-secrets.js';
import { EXIT_FAILED, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

const manage = () => import('../record/manage-secrets.js');

const CONFIG_HELP = 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)';

export function registerSecretsCommands(program: Command): void {
  program
    .command('keygen')
    .description("write this node's age identity to secrets.identity (mode 0600) and print its age1… recipient")
    .option('-c, --config <file>', CONFIG_HELP)
    .action(async (o: { config?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const r = await (await manage()).keygen(cfg);
      process.stderr.write(r.created ? `wrote ${r.path} (mode 0600)\n` : `kept the existing identity ${r.path}\n`);
      process.stdout.write(`${r.recipient}\n`);
      process.stderr.write(`on the primary: gitfailover secrets add-recipient ${cfg.node} ${r.recipient}\n`);
    });

  const secrets = program.command('secrets').description('declared secrets: recipients, list, rekey');
  secrets
    .command('add-recipient')
    .description(
      'primary: commit .gitfailover/recipients/<node> (the node may then decrypt the secrets encrypted after it) and push',
    )
    .argument('<node>', 'the node name')
    .argument('<recipient>', 'its age1… recipient, as printed by "gitfailover keygen"')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--actor <name>', 'who made the change (default: the login user)')
    .action(async (node: string, recipient: string, o: { config?: string; actor?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      report(
        await (await manage()).setRecipient(cfg, node, recipient, { actor: o.actor }),
        'recipient already listed: no change',
      );
      process.stderr.write('secrets already in the repo are not readable by it until "gitfailover secrets rekey"\n');
    });
  secrets
    .command('remove-recipient')
    .description('primary: remove .gitfailover/recipients/<node> and push (then rekey)')
    .argument('<node>', 'the node name')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--actor <name>', 'who made the change (default: the login user)')
    .action(async (node: string, o: { config?: string; actor?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      report(await (await manage()).setRecipient(cfg, node, undefined, { actor: o.actor }), 'no change');
      process.stderr.write(
        'the secrets already committed stay readable by it: run "gitfailover secrets rekey", and replace the secrets it held\n',
      );
    });
  secrets
    .command('list')
    .description('the secrets of the repo (paths only), their last change, and the recipients')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--json', 'as JSON')
    .action(async (o: { config?: string; json?: boolean }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const r = await (await manage()).listSecrets(cfg);
      if (r.fetchError) process.stderr.write(`warning: ${r.fetchError}; showing the repo as of the last fetch\n`);
      if (o.json) {
        process.stdout.write(
          `${JSON.stringify({ commit: r.commit, recipients: r.recipients, files: r.files }, null, 2)}\n`,
        );
        return;
      }
      process.stdout.write(`recipients (${r.recipients.length}):\n`);
      for (const x of r.recipients) process.stdout.write(`  ${x.node}  ${x.recipient}\n`);
      process.stdout.write(`secrets (${r.files.length}):\n`);
      for (const f of r.files)
        process.stdout.write(`  ${f.path}  last changed ${f.commit.slice(0, 12)} ${f.time} by ${f.author}\n`);
    });
  secrets
    .command('rekey')
    .description('primary: encrypt every secret again to the recipients the repo names now; one commit, pushed')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--actor <name>', 'who made the change (default: the login user)')
    .action(async (o: { config?: string; actor?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      report(await (await manage()).rekey(cfg, { actor: o.actor }), 'no secrets in the repo: nothing to rekey');
    });
}

function report(r: MetaCommitResult, none: string): void {
  if (!r.commit) {
    process.stdout.write(`${none}\n`);
    return;
  }
  process.stdout.write(`recorded ${r.commit.slice(0, 12)} ${r.subject}\n`);
  if (r.pushed) process.stdout.write('pushed\n');
  if (r.pushError) {
    process.stderr.write(`gitfailover: ${r.pushError.message}\n`);
    if (r.pushError.kind === 'stalling') throw new Exit(EXIT_FAILED);
    process.stderr.write('the commit is kept and pushed by the next record or the running primary\n');
  }
}

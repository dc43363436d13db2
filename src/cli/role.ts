import type { Command } from 'commander';
import { EXIT_FAILED, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

const CONFIG_HELP = 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)';
const out = (l: string) => process.stdout.write(`${l}\n`);

export function registerRoleCommands(program: Command): void {
  registerPromote(program);
  registerDemote(program);
  registerReady(program);
}

function registerPromote(program: Command): void {
  program
    .command('promote')
    .description(
      'make this standby the primary: catch up, commit the role change (epoch + 1), push it, start the domains',
    )
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--reason <text>', 'why, for the audit trail (the role commit message)')
    .option('--offline', 'the remote is down too: commit the role change locally; it is pushed when the remote returns')
    .option('--actor <name>', 'who promotes: "Name" or "Name <email>" (default: the login user)')
    .option(
      '--force',
      'take over although "gitfailover ready" fails (drift, quarantine, a failed check): says what it overrides',
    )
    .action(async (o: { config?: string; reason?: string; offline?: boolean; actor?: string; force?: boolean }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const { promote } = await import('../role/promote.js');
      const { withRoleLock } = await import('../role/vrrp.js');
      const r = await withRoleLock(cfg, () =>
        promote(cfg, { reason: o.reason, offline: o.offline, actor: o.actor, force: o.force, log: out }),
      );
      if (r.overridden)
        process.stderr.write(`gitfailover: warning: promoted with --force over: ${r.overridden.join('; ')}\n`);
      if (r.already) {
        out(`${cfg.node} is already the primary (epoch ${r.epoch})${r.pushed ? '; pushed the role change' : ''}`);
      } else {
        out(
          `${cfg.node} is the primary (epoch ${r.epoch}${r.previous ? `, was ${r.previous.node}` : ''}): role commit ${r.commit.slice(0, 12)}${r.pushed ? ' pushed' : ' not pushed yet (offline): the next record or "gitfailover promote" pushes it'}`,
        );
      }
      if (r.orphan) out(`kept this node's earlier unpushed commits on ${r.orphan}`);
      if (r.pushError) process.stderr.write(`gitfailover: ${r.pushError.message}\n`);
      const failed = r.started.filter((s) => !s.ok);
      for (const s of failed) process.stderr.write(`gitfailover: domain ${s.domain} did not start: ${s.error}\n`);
      if (!r.already)
        out(
          `this node now records its live dir (in production's terms); run "gitfailover standby" (or "gitfailover primary") to record every change`,
        );
      if (failed.length > 0 || r.pushError?.kind === 'stalling') throw new Exit(EXIT_FAILED);
    });
}

function registerDemote(program: Command): void {
  program
    .command('demote')
    .description(
      'make this node a standby: keep unpushed commits and an unrecorded live edit on a branch (pushed), stop its domains (commands.stop), full sync from the repo',
    )
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--reason <text>', 'why (kept in the state dir)')
    .action(async (o: { config?: string; reason?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const { demote } = await import('../role/demote.js');
      const { withRoleLock } = await import('../role/vrrp.js');
      const r = await withRoleLock(cfg, () => demote(cfg, { reason: o.reason, log: out }));
      out(`${cfg.node} is a standby${r.primary ? `, following ${r.primary.node} (epoch ${r.primary.epoch})` : ''}`);
      if (r.unrecorded)
        out(
          `an unrecorded live edit (${r.unrecorded.files.join(', ')}) was kept as commit ${r.unrecorded.commit.slice(0, 12)} before the full sync replaced it`,
        );
      const notStopped = r.stopped.filter((s) => !s.ok);
      if (r.stopped.length > 0)
        out(`stopped ${r.stopped.filter((s) => s.ok).length} domain(s) this node no longer serves`);
      for (const s of notStopped) process.stderr.write(`gitfailover: domain ${s.domain} did not stop: ${s.error}\n`);
      if (r.orphan) {
        out(
          `orphaned: ${r.orphan.commits} commit(s) the remote never got are kept on branch ${r.orphan.branch} (${r.orphan.commit.slice(0, 12)})${r.orphan.pushed ? ', pushed to the remote' : ''}; merge what is still wanted on the primary, then delete the branch`,
        );
        if (r.orphan.pushError) process.stderr.write(`gitfailover: warning: ${r.orphan.pushError}\n`);
      }
      if (r.remoteError) process.stderr.write(`gitfailover: ${r.remoteError}\n`);
      const s = r.sync;
      if (!s.success) {
        process.stderr.write(
          `gitfailover: demoted, but the full sync failed: ${s.error}; run "gitfailover sync --full" once fixed\n`,
        );
        throw new Exit(EXIT_FAILED);
      }
      out(
        `full sync -> ${s.toCommit?.slice(0, 12) ?? '(empty remote)'}: loaded ${s.domains.length} domain(s)${s.deleted.length ? `, deleted ${s.deleted.length}` : ''}`,
      );
      if (notStopped.length > 0) throw new Exit(EXIT_FAILED);
    });
}

function registerReady(program: Command): void {
  program
    .command('ready')
    .description('could this standby take over now? one line per check; exit 0 only when ready')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--json', 'machine-readable output')
    .option(
      '--quiet',
      "keepalived's fallback track_script: no output, no fetch; may this node hold the virtual address (a primary the repo names, a ready standby, not a node that lost a split brain)",
    )
    .action(async (o: { config?: string; json?: boolean; quiet?: boolean }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const { formatReadiness, readiness, readyForAddressOnce } = await import('../observe/ready.js');
      if (o.quiet) {
        if (!(await readyForAddressOnce(cfg))) throw new Exit(EXIT_FAILED);
        return;
      }
      const r = await readiness(cfg);
      process.stdout.write(o.json ? `${JSON.stringify(r, null, 2)}\n` : formatReadiness(r));
      if (!r.ready) throw new Exit(EXIT_FAILED);
    });
}

import { InvalidArgumentError, type Command } from 'commander';
import type { NodeConfig } from '../config/load.js';
import type { RecordResult } from '../record/record.js';
import type { ConflictRecord } from '../record/conflicts.js';
import { EXIT_FAILED, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

const CONFIG_HELP = 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)';

export function registerPrimaryCommands(program: Command): void {
  program
    .command('record')
    .description("commit the primary's live dir once (one commit per change) and push it")
    .option('-c, --config <file>', CONFIG_HELP)
    .option('-m, --message <text>', 'your own words, added to the generated commit message')
    .option('--actor <name>', 'who made the change: "Name" or "Name <email>" (default: the login user)')
    .action(async (o: { config?: string; message?: string; actor?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const { terminalProgress } = await import('../util/progress.js');
      const { record } = await import('../record/record.js');
      const r = await record(cfg, { message: o.message, actor: o.actor, progress: terminalProgress('record') });
      await reportRecord(cfg, r);
    });

  program
    .command('log')
    .description('the audit trail: who changed what, when, on which node (newest first)')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('--domain <domain>', 'only commits that touched this domain')
    .option('--user <user>', 'only commits that touched this user (in any domain)')
    .option('--since <date>', 'only commits after this date (2024-05-01, 2024-05-01T10:00:00Z, "3 days ago")')
    .option('-n, --max-count <n>', 'at most this many commits', positiveInt)
    .option('--json', 'a JSON array: commit, time, author, node, subject, changes')
    .action(
      async (o: {
        config?: string;
        domain?: string;
        user?: string;
        since?: string;
        maxCount?: number;
        json?: boolean;
      }) => {
        const cfg = await loadNodeFile({ file: o.config });
        const { auditLog, formatConflicts, formatLog } = await import('../record/log.js');
        const r = await auditLog(cfg, { domain: o.domain, user: o.user, since: o.since, max: o.maxCount });
        if (r.remoteError)
          process.stderr.write(`warning: ${r.remoteError}; showing the history as of the last fetch\n`);
        if (!o.json && r.conflicts.length > 0) process.stdout.write(`${formatConflicts(r.conflicts)}\n`);
        process.stdout.write(o.json ? `${JSON.stringify(r.entries, null, 2)}\n` : formatLog(r.entries));
      },
    );

  program
    .command('revert')
    .description('undo one commit: revert it, write the result into the live dir, reload the domains it touched, push')
    .argument('<commit>', 'the commit to undo (as shown by "gitfailover log")')
    .option('-c, --config <file>', CONFIG_HELP)
    .option('-m, --message <text>', 'why: added to the revert commit message')
    .option('--actor <name>', 'who reverts: "Name" or "Name <email>" (default: the login user)')
    .action(async (commit: string, o: { config?: string; message?: string; actor?: string }) => {
      const cfg = await loadNodeFile({ file: o.config });
      const { revert } = await import('../record/revert.js');
      const r = await revert(cfg, commit, {
        message: o.message,
        actor: o.actor,
        log: (l) => process.stdout.write(`${l}\n`),
      });
      if (!r.commit) return;
      for (const f of r.files) process.stdout.write(`${f.action === 'delete' ? 'deleted' : 'wrote'} ${f.path}\n`);
      for (const c of r.commands) {
        const what = `commands.${c.action}${c.domain ? ` ${c.domain}` : ''}`;
        if (c.ok) process.stdout.write(`${what}: ok\n`);
        else process.stderr.write(`gitfailover: ${c.error}\n`);
      }
      if (r.pushed) {
        process.stdout.write(`pushed to ${cfg.repo.branch}\n`);
        await notify(cfg);
      }
      let failed = r.commands.some((c) => !c.ok);
      if (r.pushError) {
        process.stderr.write(`gitfailover: ${r.pushError.message}\n`);
        process.stderr.write(
          `unpushed: ${r.unpushed} (kept in ${cfg.repo.stateDir}; the next record or the running primary pushes them)\n`,
        );
        if (r.pushError.kind === 'stalling') failed = true;
      }
      if (failed) throw new Exit(EXIT_FAILED);
    });
}

/**
 * What `record` (and `sync` on the primary) did: commits taken in from the repo, the live edits'
 * commit, the push. Exit 1 for a conflict (the live edit is on a branch) or a rejected push.
 */
export async function reportRecord(cfg: NodeConfig, r: RecordResult): Promise<void> {
  for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
  const { printableText } = await import('../model/admit.js');
  if (r.incoming) {
    const s = r.incoming.sync.result;
    process.stdout.write(
      `applied ${r.incoming.incoming.length} commit(s) from ${cfg.repo.branch} to the live dir (${s.domains.length} domain(s) loaded${s.deleted.length ? `, ${s.deleted.length} deleted` : ''})\n`,
    );
    for (const c of r.incoming.incoming)
      process.stdout.write(`  ${c.commit.slice(0, 12)} ${printableText(c.subject)} (${printableText(c.author)})\n`);
    const { fireSyncEvents } = await import('../sync/report.js');
    await fireSyncEvents(cfg, r.incoming.sync, { wait: true });
  }
  if (!r.commit) process.stdout.write(r.incoming ? 'no live edit to record\n' : 'no change\n');
  else process.stdout.write(`recorded ${r.commit.slice(0, 12)} ${printableText(r.subject ?? '')}\n`);
  if (r.pushed) {
    process.stdout.write(`pushed to ${cfg.repo.branch}\n`);
    await notify(cfg);
  }
  let failed = false;
  if (r.conflict) {
    process.stderr.write(`gitfailover: ${r.conflict.text}\n`);
    await fireConflict(cfg, r.conflict);
    failed = true;
  }
  if (r.pushError) {
    process.stderr.write(`gitfailover: ${r.pushError.message}\n`);
    process.stderr.write(
      `unpushed: ${r.unpushed} (kept in ${cfg.repo.stateDir}; the next record or the running primary pushes them)\n`,
    );
    // The change is safe locally: a transient push failure is not a failed record, a rejection is.
    if (r.pushError.kind === 'stalling') failed = true;
  }
  if (failed) throw new Exit(EXIT_FAILED);
}

async function fireConflict(cfg: NodeConfig, c: ConflictRecord): Promise<void> {
  const { TriggerDispatcher } = await import('../triggers/dispatcher.js');
  const { conflictEvent } = await import('../record/conflict-event.js');
  const dispatcher = new TriggerDispatcher(cfg.triggers, {});
  dispatcher.fire(conflictEvent(cfg.node, c));
  await dispatcher.drain(cfg.sync.timeout);
}

/** A command-line push tells the standbys at once, as the daemon does; a standby that is down is only a warning. */
async function notify(cfg: NodeConfig): Promise<void> {
  if (cfg.notify.standbys.length === 0 || !cfg.notify.secret) return;
  const { NodeRepo } = await import('../repo/node-repo.js');
  const { notifyStandbys } = await import('../daemon/primary-notify.js');
  const repo = new NodeRepo(cfg.repo);
  try {
    const head = await repo.resolve(repo.trackingRef);
    if (!head) return;
    for (const o of await notifyStandbys(cfg, { node: cfg.node, commit: head })) {
      if (!o.ok)
        process.stderr.write(
          `warning: notify ${o.url} failed: ${o.detail} (the standby catches up on its own fetch interval)\n`,
        );
    }
  } finally {
    repo.close();
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number, 1 or more');
  return n;
}

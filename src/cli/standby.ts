import type { Command } from 'commander';
import { ConfigError, STATUS_EXIT, exitCodeOf } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import { EXIT_FAILED, EXIT_USAGE, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

// biome-ignore lint/complexity/noExcessiveLinesPerFunction: commander's declarations of the standby commands, one chain each; the work is in sync/ and daemon/
export function registerStandbyCommands(program: Command): void {
  program
    .command('sync')
    .description('one on-demand sync of this standby (partial; --full wipes and reloads every domain)')
    .option('-c, --config <file>', 'node file')
    .option('--full', 'delete every domain, then load every domain of the target (refused while automatic sync is on)')
    .option(
      '--to <rev>',
      'sync to this commit instead of the remote head; an older one pins the node there (automatic off until --enable)',
    )
    .option('--dry-run', 'print the plan and a diff of every live-dir file that would change; change nothing')
    .option(
      '--start',
      'then start every domain of the live dir (the loader, commands.start), even when sync.startAfterSync is off',
    )
    .option('--enable', 'turn automatic sync on again (after a failure, a pin or --disable) and sync now')
    .option('--disable', 'stop automatic sync on this node until --enable (an on-demand sync does not turn it on)')
    .action(
      // biome-ignore lint/complexity/noExcessiveLinesPerFunction: the sync command's flag combinations (--enable, --disable, --dry-run, --json, --start) in the order they are checked
      async (o: {
        config?: string;
        full?: boolean;
        to?: string;
        dryRun?: boolean;
        start?: boolean;
        enable?: boolean;
        disable?: boolean;
      }) => {
        const cfg = await loadNodeFile({ file: o.config });
        if (o.enable && o.disable)
          throw new ConfigError('sync: --enable and --disable contradict each other: give one');
        const { setAutomatic } = await import('../sync/automatic.js');
        if (o.disable) {
          await setAutomatic(cfg, false);
          process.stdout.write(`automatic sync disabled on ${cfg.node} until "gitfailover sync --enable"\n`);
          if (!o.full && !o.to && !o.dryRun) return;
        }
        const { loadState } = await import('../sync/state.js');
        const before = loadState(cfg.repo.stateDir);
        if (o.enable) {
          await setAutomatic(cfg, true);
          const was = before.pinned ? `un-pinned from ${before.pinned.commit.slice(0, 12)}; ` : '';
          process.stdout.write(
            `${was}automatic sync ${cfg.sync.automatic ? 'enabled' : `allowed, but sync.automatic is false in ${cfg.file}`} on ${cfg.node}; syncing now\n`,
          );
        }
        const { terminalProgress } = await import('../util/progress.js');
        const { effectiveRole } = await import('../node-state/role-state.js');
        if (effectiveRole(cfg) === 'primary') {
          // On the primary, "bring this node to the repo" is record's first half: take in the remote's commits, keep live edits.
          const { syncPrimary } = await import('./sync-primary.js');
          await syncPrimary(cfg, { full: o.full, to: o.to, dryRun: o.dryRun });
          return;
        }
        const { syncOnce } = await import('../sync/sync.js');
        const out = await syncOnce(cfg, {
          full: o.full,
          to: o.to,
          dryRun: o.dryRun,
          start: o.start,
          onDemand: true,
          progress: o.dryRun ? undefined : terminalProgress('sync'),
        });
        const r = out.result;
        const { fireSyncEvents } = await import('../sync/report.js');
        if (!o.dryRun) await fireSyncEvents(cfg, out, { wait: true });
        if (o.dryRun && out.plan) {
          const p = out.plan;
          process.stdout.write(
            `plan (${p.mode}) ${r.fromCommit?.slice(0, 12) ?? '(nothing)'} -> ${r.toCommit?.slice(0, 12)}\n`,
          );
          process.stdout.write(
            `  load:   ${p.load.join(', ') || '-'}\n  delete: ${p.delete.join(', ') || '-'}\n  global: ${[...p.writeGlobal, ...p.removeGlobal].join(', ') || '-'}\n`,
          );
          for (const patch of out.patches ?? []) process.stdout.write(patch);
        }
        if (!r.success) {
          process.stderr.write(`gitfailover: sync failed: ${r.error}\n`);
          if (r.errorClass === 'transient' && out.state.disabled === undefined && cfg.sync.automatic)
            process.stderr.write('gitfailover: a transient failure: automatic sync stays on and retries\n');
          if (out.extraEvents.includes('sync.disabled'))
            process.stderr.write(
              `gitfailover: automatic sync is now off (sync.disableOnFailure); fix the repo, then run "gitfailover sync" again\n`,
            );
          throw new Exit(exitCodeOf(r.errorClass ?? 'content'));
        }
        const { describeUnmappedService, UNMAPPED_LINES } = await import('../model/admit.js');
        const unmapped = r.unmapped ?? [];
        for (const u of unmapped.slice(0, UNMAPPED_LINES))
          process.stderr.write(
            `warning: domain ${u.domain}: ${describeUnmappedService(u)} is not in substitution.ips: the failover would listen on production's address (map it, or list it under substitution.keep)\n`,
          );
        if (unmapped.length > UNMAPPED_LINES)
          process.stderr.write(
            `warning: and ${unmapped.length - UNMAPPED_LINES} more service addresses not in substitution.ips ("gitfailover ready" lists them)\n`,
          );
        if (o.dryRun) return;
        if (r.upToDate)
          process.stdout.write(
            `up to date at ${r.toCommit?.slice(0, 12) ?? '(empty remote)'}${r.error ? ` (${r.error})` : ''}\n`,
          );
        else
          process.stdout.write(
            `${r.mode} sync ${r.fromCommit?.slice(0, 12) ?? '(nothing)'} -> ${r.toCommit!.slice(0, 12)}: loaded ${r.domains.length} domain(s)${r.deleted.length ? `, deleted ${r.deleted.length}` : ''} in ${r.durationMs}ms\n`,
          );
        const after = out.state;
        if (r.pinned) {
          process.stdout.write(
            `pinned to ${r.toCommit!.slice(0, 12)}, older than the remote head: automatic sync is off on ${cfg.node} until "gitfailover sync --enable"\n`,
          );
        } else if (before.pinned && !after.pinned) {
          process.stdout.write(
            `pin on ${before.pinned.commit.slice(0, 12)} ended: ${cfg.node} is at the remote head\n`,
          );
        }
        if (before.disabled && !after.disabled && !o.enable && cfg.sync.automatic)
          process.stdout.write(`automatic sync re-enabled on ${cfg.node} (it was off: ${before.disabled.reason})\n`);
        else if (after.disabled?.cause === 'operator' && !r.pinned)
          process.stdout.write(
            `automatic sync stays off (${after.disabled.reason}): "gitfailover sync --enable" turns it on\n`,
          );
        if (o.start && r.toCommit) {
          const { startDomains } = await import('../role/domains.js');
          const started = await startDomains(cfg, r.toCommit, (l) => process.stdout.write(`${l}\n`), r.domains);
          const failed = started.filter((s) => !s.ok);
          for (const s of failed) process.stderr.write(`gitfailover: domain ${s.domain} did not start: ${s.error}\n`);
          if (failed.length > 0) throw new Exit(EXIT_FAILED);
        }
      },
    );

  program
    .command('status')
    .description(
      "this node's role, applied vs remote commit, last sync, drift, readiness; exit 3 split brain, 4 last sync failed, 5 quarantined",
    )
    .option('-c, --config <file>', 'node file')
    .option('--json', 'machine-readable output')
    .option('--no-fetch', 'do not contact the remote (use the last fetched head)')
    .option('--watch', 'refresh until Ctrl-C: redrawn in place on a terminal, one line per change otherwise')
    .option('--interval <duration>', 'with --watch: time between refreshes (e.g. 500ms, 2s, 1m)', '2s')
    .action(async (o: { config?: string; json?: boolean; fetch?: boolean; watch?: boolean; interval: string }) => {
      const intervalMs = parseDuration(o.interval);
      if (intervalMs === undefined || intervalMs < 100) {
        process.stderr.write(
          `gitfailover status: --interval "${o.interval}" is not a duration of at least 100ms (e.g. 500ms, 2s, 1m)\n`,
        );
        throw new Exit(EXIT_USAGE);
      }
      const cfg = await loadNodeFile({ file: o.config });
      if (o.watch) {
        const { watchStatus } = await import('./status-watch.js');
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        const tty = process.stdout.isTTY === true;
        await watchStatus(cfg, {
          intervalMs,
          fetch: o.fetch !== false,
          json: !!o.json,
          tty,
          write: (t) => process.stdout.write(t),
          stopped,
        });
        if (tty) process.stdout.write('\n');
        return;
      }
      const { statusOf, formatStatus, statusProblem } = await import('../observe/status.js');
      const s = await statusOf(cfg, { fetch: o.fetch !== false });
      const problem = statusProblem(s);
      process.stdout.write(
        o.json ? `${JSON.stringify({ ...s, problem: problem ?? null }, null, 2)}\n` : formatStatus(s),
      );
      // Scripts and monitoring read the exit code: a status that reports trouble is not a success.
      if (problem) throw new Exit(STATUS_EXIT[problem]!);
    });
}

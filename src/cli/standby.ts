import type { Command } from 'commander';
import { loadNodeFile } from '../config/load.js';
import { syncOnce } from '../sync/sync.js';
import { statusOf, formatStatus } from '../sync/status.js';
import { parseDuration } from '../config/duration.js';
import { EXIT_FAILED, EXIT_USAGE, Exit } from './main.js';

export function registerStandbyCommands(program: Command): void {
  program
    .command('sync')
    .description('one on-demand sync of this standby (partial; --full wipes and reloads every domain)')
    .option('-c, --config <file>', 'node file')
    .option('--full', 'delete every domain, then load every domain of the target (refused while automatic sync is on)')
    .option('--to <rev>', 'sync to this commit instead of the remote head')
    .option('--dry-run', 'print the plan and a diff of every live-dir file that would change; change nothing')
    .option('--start', 'start the loaded domains (commands.start) even when sync.startAfterSync is off')
    .option('--enable', 're-enable automatic sync after a failure (also done by a successful on-demand sync)')
    .option('--disable', 'stop automatic sync on this node until --enable')
    .action(async (o: { config?: string; full?: boolean; to?: string; dryRun?: boolean; start?: boolean; enable?: boolean; disable?: boolean }) => {
      const cfg = loadNodeFile({ file: o.config });
      const { setAutomatic } = await import('../sync/automatic.js');
      if (o.enable || o.disable) {
        await setAutomatic(cfg, !!o.enable);
        process.stdout.write(`automatic sync ${o.enable ? 'enabled' : 'disabled'} on ${cfg.node}\n`);
        if (!o.full && !o.to && !o.dryRun) return;
      }
      const { terminalProgress } = await import('../util/progress.js');
      const out = await syncOnce(cfg, { full: o.full, to: o.to, dryRun: o.dryRun, start: o.start, onDemand: true, progress: o.dryRun ? undefined : terminalProgress('sync') });
      const r = out.result;
      const { fireSyncEvents } = await import('../sync/report.js');
      if (!o.dryRun) await fireSyncEvents(cfg, out, { wait: true });
      if (o.dryRun && out.plan) {
        const p = out.plan;
        process.stdout.write(`plan (${p.mode}) ${r.fromCommit?.slice(0, 12) ?? '(nothing)'} -> ${r.toCommit?.slice(0, 12)}\n`);
        process.stdout.write(`  load:   ${p.load.join(', ') || '-'}\n  delete: ${p.delete.join(', ') || '-'}\n  global: ${[...p.writeGlobal, ...p.removeGlobal].join(', ') || '-'}\n`);
        for (const patch of out.patches ?? []) process.stdout.write(patch);
      }
      if (!r.success) {
        process.stderr.write(`gitfailover: sync failed: ${r.error}\n`);
        throw new Exit(EXIT_FAILED);
      }
      if (o.dryRun) return;
      if (r.upToDate) process.stdout.write(`up to date at ${r.toCommit?.slice(0, 12) ?? '(empty remote)'}${r.error ? ` (${r.error})` : ''}\n`);
      else process.stdout.write(`${r.mode} sync ${r.fromCommit?.slice(0, 12) ?? '(nothing)'} -> ${r.toCommit!.slice(0, 12)}: loaded ${r.domains.length} domain(s)${r.deleted.length ? `, deleted ${r.deleted.length}` : ''} in ${r.durationMs}ms\n`);
    });

  program
    .command('standby')
    .description('run the standby agent: sync every sync.interval and at once on a signed notify')
    .option('-c, --config <file>', 'node file')
    .option('--log-format <format>', 'text or json', 'text')
    .action(async (o: { config?: string; logFormat?: string }) => {
      const cfg = loadNodeFile({ file: o.config });
      const { runStandby } = await import('../daemon/standby.js');
      const { createLogger } = await import('../daemon/log.js');
      const daemon = await runStandby(cfg, { logger: createLogger(cfg.node, o.logFormat === 'json' ? 'json' : 'text') });
      await new Promise<void>((resolve) => {
        const stop = () => void daemon.stop().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });

  program
    .command('status')
    .description("this node's role, applied vs remote commit, last sync, drift")
    .option('-c, --config <file>', 'node file')
    .option('--json', 'machine-readable output')
    .option('--no-fetch', 'do not contact the remote (use the last fetched head)')
    .option('--watch', 'refresh until Ctrl-C: redrawn in place on a terminal, one line per change otherwise')
    .option('--interval <duration>', 'with --watch: time between refreshes (e.g. 500ms, 2s, 1m)', '2s')
    .action(async (o: { config?: string; json?: boolean; fetch?: boolean; watch?: boolean; interval: string }) => {
      const intervalMs = parseDuration(o.interval);
      if (intervalMs === undefined || intervalMs < 100) {
        process.stderr.write(`gitfailover status: --interval "${o.interval}" is not a duration of at least 100ms (e.g. 500ms, 2s, 1m)\n`);
        throw new Exit(EXIT_USAGE);
      }
      const cfg = loadNodeFile({ file: o.config });
      if (o.watch) {
        const { watchStatus } = await import('./status-watch.js');
        const stopped = new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        const tty = process.stdout.isTTY === true;
        await watchStatus(cfg, { intervalMs, fetch: o.fetch !== false, json: !!o.json, tty, write: (t) => process.stdout.write(t), stopped });
        if (tty) process.stdout.write('\n');
        return;
      }
      const s = await statusOf(cfg, { fetch: o.fetch !== false });
      process.stdout.write(o.json ? JSON.stringify(s, null, 2) + '\n' : formatStatus(s));
    });
}

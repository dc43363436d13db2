import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import { parseDuration } from '../util/duration.js';
import { EXIT_FAILED, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

const VRRP_STATES = ['master', 'backup', 'fault', 'stop'] as const;
type VrrpState = (typeof VRRP_STATES)[number];

const out = (l: string) => process.stdout.write(`${l}\n`);

export function registerVrrpCommands(program: Command): void {
  program
    .command('vrrp')
    .description(
      "keepalived's notify hooks: master promotes, fault/stop demote a primary, backup demotes a primary the repo no longer names; clear forgets a lost split brain",
    )
    .argument('<state>', `${VRRP_STATES.join(' | ')} | clear`)
    .option('-c, --config <file>', 'node file (default: $GITFAILOVER_CONFIG, then ./gitfailover.yaml)')
    .option('--timeout <duration>', 'give up (exit 1) after this long, lock wait included (default: 2 x sync.timeout)')
    .action(async (state: string, o: { config?: string; timeout?: string }) => {
      if (state !== 'clear' && !(VRRP_STATES as readonly string[]).includes(state))
        throw new ConfigError(
          `vrrp: unknown state "${state}": keepalived's hooks pass ${VRRP_STATES.join(', ')}; "clear" forgets a lost split brain`,
        );
      const timeoutMs = o.timeout === undefined ? undefined : parseDuration(o.timeout);
      if (o.timeout !== undefined && (timeoutMs === undefined || timeoutMs <= 0))
        throw new ConfigError(`vrrp: --timeout "${o.timeout}" is not a duration such as 90s or 2m`);
      const cfg = await loadNodeFile({ file: o.config });
      const { clearVrrpLoss, vrrpLogPath, vrrpNotify } = await import('../role/vrrp.js');
      if (state === 'clear') {
        const who = clearVrrpLoss(cfg);
        out(
          who
            ? `cleared: ${cfg.node} may take the virtual address again (it had lost the role to ${who})`
            : 'nothing to clear',
        );
        return;
      }
      const limit = timeoutMs ?? 2 * cfg.sync.timeout;
      // keepalived does not wait for a hook; a stuck one must not hold the role lock forever. Every
      // step of promote and demote converges after a crash, so ending the process here is safe.
      const timer = setTimeout(() => {
        process.stderr.write(`gitfailover: vrrp ${state}: gave up after ${limit}ms (--timeout)\n`);
        process.exit(EXIT_FAILED);
      }, limit);
      timer.unref();
      const r = await vrrpNotify(cfg, state as VrrpState, { timeoutMs: limit, log: out });
      clearTimeout(timer);
      (r.failed ? process.stderr : process.stdout).write(`${cfg.node}: vrrp ${r.state}: ${r.action}: ${r.detail}\n`);
      if (r.failed) {
        process.stderr.write(`gitfailover: see ${vrrpLogPath(cfg.repo.stateDir)}\n`);
        throw new Exit(EXIT_FAILED);
      }
    });
}

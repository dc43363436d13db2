import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { addressAsked, loadAddressVerdict, saveAddressVerdict } from '../node-state/address-verdict.js';
import { errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import { FilesLoader } from '../loaders/files.js';
import { domainsDirOf } from '../model/layout.js';
import { readinessFacts, statusOf } from './status.js';
import { judgeReadiness, type Readiness } from './readiness.js';
import { loadHeartbeat } from '../node-state/heartbeat.js';
import { clearRoleLost, lossHealed, loadRoleLost } from '../node-state/role-lost.js';
import { effectiveRole, loadRoleOverride, roleSource } from '../node-state/role-state.js';
import { pidAlive } from '../util/pid.js';

export { formatReadiness, type ReadyCheck, type Readiness } from './readiness.js';

/**
 * `gitfailover ready` (and `promote`): could this node take over now? The facts of `status`
 * (with a fetch), plus commands.check run for every domain; judged by the one rule (readiness.ts).
 * Every check runs: an operator wants the whole list, not the first problem.
 */
export async function readiness(cfg: NodeConfig, opts: { fetch?: boolean } = {}): Promise<Readiness> {
  const { ready: _, ...s } = await statusOf(cfg, { fetch: opts.fetch !== false });
  return judgeReadiness({
    ...readinessFacts(s, roleSource(cfg), { fetched: opts.fetch !== false }),
    takeover: true,
    checks: await runChecks(cfg, s.appliedCommit),
  });
}

/**
 * `gitfailover ready --quiet`, keepalived's track_script: may this node hold the virtual address?
 * No fetch (the running daemon fetches; a remote that does not answer must neither stall the script
 * nor cost a primary the address). A primary the repo (as last fetched) still names: yes, whatever
 * else its readiness says. A standby: the takeover checks of `ready`. A node that lost the role in a
 * split brain (role-lost.json): no, until a heartbeat from the winner shows the partition is over.
 */
export async function readyForAddress(cfg: NodeConfig): Promise<Readiness> {
  const lost = loadRoleLost(cfg.repo.stateDir);
  if (lost) {
    if (!lossHealed(lost, loadHeartbeat(cfg.repo.stateDir))) {
      const detail = `lost the role to ${lost.lostTo} (epoch ${lost.epoch}) at ${lost.time} and has not heard from it since: not taking the address back while the nodes may be partitioned ("gitfailover vrrp clear" once they are not)`;
      return {
        node: cfg.node,
        ready: false,
        reason: `role: ${detail}`,
        checks: [{ name: 'role', status: 'fail', detail }],
      };
    }
    clearRoleLost(cfg.repo.stateDir);
  }
  if (effectiveRole(cfg) === 'standby') return readiness(cfg, { fetch: false });
  const { ready: _, ...s } = await statusOf(cfg, { fetch: false });
  // The last fetch may predate this node's own role commit (just pushed): the higher epoch counts.
  const mine = loadRoleOverride(cfg.repo.stateDir);
  const named = s.primary && mine?.role === 'primary' && mine.epoch >= s.primary.epoch ? null : s.primary;
  const r = judgeReadiness(readinessFacts({ ...s, primary: named }, roleSource(cfg), { fetched: false }));
  const role = r.checks.filter((c) => c.name === 'role');
  const failed = role.find((c) => c.status === 'fail');
  return {
    node: cfg.node,
    ready: !failed,
    reason: failed ? `role: ${failed.detail}` : 'the primary the repo names',
    checks: role,
  };
}

/**
 * readyForAddress() for keepalived's track_script, one run at a time per node: keepalived starts
 * the script every interval whether or not the last run finished, and on a loaded machine runs
 * would pile up and starve the hooks. A run that finds another one running answers with the last
 * verdict (stateDir/address-ready.json) at once.
 */
export async function readyForAddressOnce(cfg: NodeConfig): Promise<boolean> {
  const lock = join(cfg.repo.stateDir, 'address-ready.lock');
  mkdirSync(cfg.repo.stateDir, { recursive: true });
  if (!takePidLock(lock)) return loadAddressVerdict(cfg.repo.stateDir)?.ready === true; // none yet: not ready
  try {
    const r = await readyForAddress(cfg);
    saveAddressVerdict(cfg.repo.stateDir, r, verdictValidMs(cfg));
    return r.ready;
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * The daemon's part: once keepalived is set up (role/address-verdict.ts), answer every tick, so
 * keepalived reads the track file and `ready --quiet` reads the answer instead of working it out.
 */
export async function refreshAddressVerdict(cfg: NodeConfig, opts: { force?: boolean } = {}): Promise<void> {
  if (!opts.force && !addressAsked(cfg.repo.stateDir)) return;
  saveAddressVerdict(cfg.repo.stateDir, await readyForAddress(cfg), verdictValidMs(cfg));
}

/** Three daemon ticks: a daemon that stopped refreshing is soon not trusted, and the full run answers. */
function verdictValidMs(cfg: NodeConfig): number {
  return Math.max(3 * cfg.sync.interval, 5_000);
}

/** An O_EXCL file naming its pid; one left by a dead process is taken over. */
function takePidLock(path: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) return false;
      rmSync(path, { force: true });
    }
  }
  return false;
}

async function runChecks(
  cfg: NodeConfig,
  applied: string | null,
): Promise<{ domain: string; ok: boolean; error?: string }[] | null> {
  if (!cfg.commands.check) return null;
  const loader = new FilesLoader(cfg.live.dir, domainsDirOf(cfg.live.domains));
  const out: { domain: string; ok: boolean; error?: string }[] = [];
  for (const domain of loader.liveDomains()) {
    try {
      await runCommand(cfg.commands.check, {
        action: 'check',
        node: cfg.node,
        commit: applied ?? undefined,
        domain,
        dir: loader.domainDir(domain),
        timeoutMs: cfg.commands.timeout,
      });
      out.push({ domain, ok: true });
    } catch (err) {
      out.push({ domain, ok: false, error: errorMessage(err) });
    }
  }
  return out;
}

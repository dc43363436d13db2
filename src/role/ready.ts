import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import { FilesLoader } from '../loaders/files.js';
import { domainsDirOf } from '../model/layout.js';
import { NodeRepo } from '../repo/node-repo.js';
import { loadState } from '../sync/state.js';
import { statusOf } from '../sync/status.js';
import { loadHeartbeat } from './heartbeat.js';
import { effectiveRole, roleSource } from './role-state.js';

export interface ReadyCheck {
  name: string;
  /** `skip`: nothing to check here (not configured); it does not make the node unready. */
  status: 'ok' | 'fail' | 'skip';
  detail: string;
}

export interface Readiness {
  node: string;
  ready: boolean;
  checks: ReadyCheck[];
}

/**
 * `gitfailover ready`: could this standby take over now? Every check runs (an operator wants the
 * whole list, not the first problem); the node is ready when none fails.
 */
export async function readiness(cfg: NodeConfig): Promise<Readiness> {
  const checks: ReadyCheck[] = [];
  const add = (name: string, status: ReadyCheck['status'], detail: string) => checks.push({ name, status, detail });
  const short = (c: string | null | undefined) => (c ? c.slice(0, 12) : '(none)');

  const role = effectiveRole(cfg);
  add('role', role === 'standby' ? 'ok' : 'fail', role === 'standby' ? `standby (${roleSource(cfg)})` : `already the primary (${roleSource(cfg)})`);

  const s = await statusOf(cfg, { fetch: true });
  add('remote', s.remoteError ? 'fail' : 'ok', s.remoteError ?? `${s.remote} (${s.branch}) answers, head ${short(s.targetCommit)}`);
  const current = !!s.appliedCommit && s.appliedCommit === s.targetCommit;
  add('applied', current ? 'ok' : 'fail', current ? `applied ${short(s.appliedCommit)} = remote head` : `applied ${short(s.appliedCommit)}, remote head ${short(s.targetCommit)} (behind: ${s.behind ?? 'history differs'})`);
  const last = s.lastSync;
  add('last sync', last?.success ? 'ok' : 'fail', last ? `${last.success ? 'succeeded' : 'FAILED'} at ${last.time}${last.error ? `: ${last.error}` : ''}` : 'no sync yet: run "gitfailover sync"');
  const d = s.drift;
  const drifted = [...d.changed, ...d.missing, ...d.extra];
  add('drift', drifted.length === 0 ? 'ok' : 'fail', drifted.length === 0 ? 'none' : `${drifted.length} file(s) differ from the applied commit: ${drifted.slice(0, 3).join(', ')}${drifted.length > 3 ? ', ...' : ''} ("gitfailover sync --full" puts them back)`);
  const unmapped = Object.entries(loadState(cfg.repo.stateDir).unmapped ?? {}).flatMap(([d, list]) => list.map((b) => `${d} ${b}`));
  add(
    'substitution',
    unmapped.length === 0 ? 'ok' : 'fail',
    unmapped.length === 0
      ? 'every service address is substituted or kept'
      : `the failover would listen on production's address: ${unmapped.slice(0, 3).join(', ')}${unmapped.length > 3 ? ', ...' : ''} (map it under substitution.ips, or list it under substitution.keep)`,
  );
  add('quarantine', s.quarantined ? 'fail' : 'ok', s.quarantined ? `commit ${short(s.quarantined.commit)} is quarantined: ${s.quarantined.reason}` : 'none');
  if (s.interruptedApply) add('journal', 'fail', `an apply to ${short(s.interruptedApply)} was interrupted; the next sync finishes it`);

  const hb = loadHeartbeat(cfg.repo.stateDir);
  if (!hb) {
    add('heartbeat', 'skip', 'no primary heartbeat recorded (the standby daemon records them when the primary notifies it)');
  } else {
    const age = Math.round((Date.now() - Date.parse(hb.time)) / 1000);
    const from = `from ${hb.node ?? 'the primary'} ${age}s ago`;
    let covered = !hb.commit;
    if (hb.commit && s.appliedCommit) {
      const repo = new NodeRepo(cfg.repo);
      try {
        covered = hb.commit === s.appliedCommit || (await repo.isAncestor(hb.commit, s.appliedCommit).catch(() => false));
      } finally {
        repo.close();
      }
    }
    // A late heartbeat is what a failover looks like: the check is that nothing the primary last announced is missing here.
    add('heartbeat', covered ? 'ok' : 'fail', covered ? `last ${from}${hb.commit ? `, announced ${short(hb.commit)} (applied here)` : ''}` : `last ${from} announced ${short(hb.commit)}, which is not applied here`);
  }

  if (!cfg.commands.check) {
    add('check', 'skip', `commands.check is not set in ${cfg.file}`);
  } else {
    const loader = new FilesLoader(cfg.live.dir, domainsDirOf(cfg.live.domains));
    const domains = loader.liveDomains();
    if (domains.length === 0) add('check', 'skip', 'no domains in the live dir');
    for (const domain of domains) {
      try {
        await runCommand(cfg.commands.check, { action: 'check', node: cfg.node, commit: s.appliedCommit ?? undefined, domain, dir: loader.domainDir(domain), timeoutMs: cfg.commands.timeout });
        add(`check ${domain}`, 'ok', 'commands.check passed');
      } catch (err) {
        add(`check ${domain}`, 'fail', errorMessage(err));
      }
    }
  }
  return { node: cfg.node, ready: checks.every((c) => c.status !== 'fail'), checks };
}

export function formatReadiness(r: Readiness): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => `${c.status === 'ok' ? 'ok  ' : c.status === 'skip' ? 'skip' : 'FAIL'}  ${c.name.padEnd(width)}  ${c.detail}`);
  lines.push(r.ready ? `${r.node} is ready to take over` : `${r.node} is NOT ready to take over`);
  return lines.join('\n') + '\n';
}

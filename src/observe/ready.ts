import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import { FilesLoader } from '../loaders/files.js';
import { domainsDirOf } from '../model/layout.js';
import { readinessFacts, statusOf } from './status.js';
import { judgeReadiness, type Readiness } from './readiness.js';
import { roleSource } from '../node-state/role-state.js';

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

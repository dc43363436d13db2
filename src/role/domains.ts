import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { runCommand } from '../loaders/commands.js';
import { FilesLoader } from '../loaders/files.js';
import { makeLoader } from '../loaders/make-loader.js';
import { domainsDirOf } from '../model/layout.js';

/** What became of one domain's start or stop. */
export interface DomainAction {
  domain: string;
  ok: boolean;
  error?: string;
}

/**
 * The seed's "start the domain" step (promote, `sync --start`): every domain of the live dir is
 * served. A loader that serves domains itself (loader: proftpd) starts its stopped ones; then
 * commands.start runs for each domain, whatever the loader. `except`: domains this run already
 * started (a `sync --start` that just loaded them).
 */
export async function startDomains(
  cfg: NodeConfig,
  commit: string,
  log: (line: string) => void,
  except: readonly string[] = [],
): Promise<DomainAction[]> {
  const server = makeLoader(cfg, domainsDirOf(cfg.live.domains));
  const out: DomainAction[] = [];
  if (server.startAll) {
    try {
      for (const domain of await server.startAll({ node: cfg.node, commit, start: true, log })) {
        log(`started ${domain}`);
        if (!cfg.commands.start) out.push({ domain, ok: true });
      }
    } catch (err) {
      return server.liveDomains().map((domain) => ({ domain, ok: false, error: errorMessage(err) }));
    }
  }
  if (!cfg.commands.start) return out;
  return out.concat(await eachDomain(cfg, 'start', cfg.commands.start, commit, log, except));
}

/**
 * The failback step of a node that stops serving (demote): commands.stop for every domain of the
 * live dir, then the loader's own stop (loader: proftpd stops serving them). Run before the demote's
 * full sync, so nothing this node served keeps answering while production serves again.
 */
export async function stopDomains(
  cfg: NodeConfig,
  commit: string,
  log: (line: string) => void,
): Promise<DomainAction[]> {
  const out: DomainAction[] = cfg.commands.stop
    ? await eachDomain(cfg, 'stop', cfg.commands.stop, commit, log, [])
    : [];
  const server = makeLoader(cfg, domainsDirOf(cfg.live.domains));
  if (server.stopAll) {
    try {
      for (const domain of await server.stopAll({ node: cfg.node, commit, start: false, log })) {
        log(`stopped ${domain}`);
        if (!cfg.commands.stop) out.push({ domain, ok: true });
      }
    } catch (err) {
      out.push({ domain: '(all)', ok: false, error: errorMessage(err) });
    }
  }
  return out;
}

async function eachDomain(
  cfg: NodeConfig,
  action: 'start' | 'stop',
  argv: string[],
  commit: string,
  log: (line: string) => void,
  except: readonly string[],
): Promise<DomainAction[]> {
  const loader = new FilesLoader(cfg.live.dir, domainsDirOf(cfg.live.domains));
  const skip = new Set(except);
  const out: DomainAction[] = [];
  for (const domain of loader.liveDomains()) {
    if (skip.has(domain)) continue;
    try {
      await runCommand(argv, {
        action,
        node: cfg.node,
        commit,
        domain,
        dir: loader.domainDir(domain),
        timeoutMs: cfg.commands.timeout,
      });
      out.push({ domain, ok: true });
      log(`${action === 'start' ? 'started' : 'stopped'} ${domain}`);
    } catch (err) {
      out.push({ domain, ok: false, error: errorMessage(err) });
    }
  }
  return out;
}

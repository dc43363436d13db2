import type { NodeConfig } from '../config/load.js';

/**
 * The node file, loaded on first use: the schema (zod) and YAML modules are most of a command's
 * start-up, and `--version`, `--help` and `validate` need neither. Every command that opens the
 * node's state dir comes here, so this is where a state dir an older gitfailover wrote is migrated
 * (once: an up-to-date one costs a read of state.json).
 */
export async function loadNodeFile(opts: { file?: string }): Promise<NodeConfig> {
  const load = await import('../config/load.js');
  const cfg = await load.loadNodeFile(opts);
  const [{ migrateStateDir }, { domainsDirOf }] = await Promise.all([
    import('../sync/migrate-state.js'),
    import('../model/layout.js'),
  ]);
  await migrateStateDir(cfg.repo.stateDir, domainsDirOf(cfg.live.domains));
  return cfg;
}

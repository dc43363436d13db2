import type { NodeConfig } from '../config/load.js';

/**
 * The node file, loaded on first use: the schema (zod) and YAML modules are most of a command's
 * start-up, and `--version`, `--help` and `validate` need neither.
 */
export async function loadNodeFile(opts: { file?: string }): Promise<NodeConfig> {
  const load = await import('../config/load.js');
  return load.loadNodeFile(opts);
}

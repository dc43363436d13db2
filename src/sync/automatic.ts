import type { NodeConfig } from '../config/load.js';
import { withLock } from '../repo/lock.js';
import { StateStore } from './state.js';

/**
 * `sync --enable` / `sync --disable`: the node-local switch over automatic sync (the node file
 * says whether it exists at all). Under the sync lock, like every other write of state.json: a
 * sync running meanwhile would otherwise save the state it read before the switch and undo it.
 */
export async function setAutomatic(cfg: NodeConfig, enabled: boolean): Promise<void> {
  await withLock(cfg.repo.stateDir, 'sync', async () => {
    const store = new StateStore(cfg.repo.stateDir);
    const state = store.read();
    if (enabled) {
      delete state.disabled;
      delete state.pinned; // --enable is how a pin ends: the node follows the head again
    } else
      state.disabled = {
        reason: 'disabled by an operator (gitfailover sync --disable)',
        time: new Date().toISOString(),
        cause: 'operator',
      };
    store.write(state);
  });
}

import type { NodeConfig } from '../config/load.js';
import { loadState, saveState } from './state.js';

/** `sync --enable` / `sync --disable`: the node-local switch over automatic sync (the node file says whether it exists at all). */
export function setAutomatic(cfg: NodeConfig, enabled: boolean): void {
  const state = loadState(cfg.repo.stateDir);
  if (enabled) delete state.disabled;
  else state.disabled = { reason: 'disabled by an operator (gitfailover sync --disable)', time: new Date().toISOString() };
  saveState(cfg.repo.stateDir, state);
}

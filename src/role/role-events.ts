import type { NodeConfig } from '../config/load.js';
import { TriggerDispatcher } from '../triggers/dispatcher.js';

/** `promote` / `demote` through the node's triggers; a one-shot command waits (bounded) so the message leaves. */
export async function fireRoleEvent(
  cfg: NodeConfig,
  change: 'promote' | 'demote',
  commit: string | undefined,
  primary?: string,
): Promise<void> {
  if (cfg.triggers.length === 0) return;
  const dispatcher = new TriggerDispatcher(cfg.triggers);
  dispatcher.fire({
    event: change,
    node: cfg.node,
    time: new Date().toISOString(),
    role: change === 'promote' ? 'primary' : 'standby',
    primary: primary ?? cfg.node,
    ...(commit ? { commit } : {}),
  });
  await dispatcher.drain(Math.min(cfg.sync.timeout, 15_000));
}

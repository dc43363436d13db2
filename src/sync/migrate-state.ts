import { existsSync, readFileSync } from 'node:fs';
import { withLock } from '../repo/lock.js';
import { writeJsonAtomic } from '../util/atomic.js';
import { hasManifestShards, writeManifest } from './manifest-store.js';
import { LEGACY_STATE_KEYS, StateStore, statePath } from './state.js';

/**
 * Bring a state dir written by an older gitfailover to today's layout, once, when the daemon or a
 * command that opens the state dir starts; every later read is read-only. Idempotent: a state dir
 * already migrated costs one read of state.json, and takes no lock. What older versions left:
 * - the manifest inside state.json (before the shards): moved into stateDir/manifest/;
 * - the bindings inside state.json (before the bindings file, or written there by an older
 *   gitfailover after a downgrade, then newer than any file state.json names): moved to a new file;
 * - `unmapped` in state.json (now derived from the bindings): dropped.
 * Each step writes its new file before state.json stops holding the data, so a kill between the
 * two leaves the old layout, migrated again at the next start.
 */
export async function migrateStateDir(stateDir: string, domainsDir: string): Promise<boolean> {
  if (!needsMigration(stateDir)) return false;
  return withLock(stateDir, 'sync', async () => {
    if (!needsMigration(stateDir)) return false; // another process did it while this one waited
    const store = new StateStore(stateDir);
    const raw = JSON.parse(readFileSync(statePath(stateDir), 'utf8')) as Record<string, unknown> & {
      manifest?: Record<string, string>;
      bindings?: Record<string, string[]>;
    };
    // Shards that exist are newer than a manifest still in state.json (a state dir that was
    // migrated and then written by an older gitfailover keeps its manifest there too).
    if (raw.manifest && !hasManifestShards(stateDir)) writeManifest(stateDir, raw.manifest, domainsDir);
    const next: Record<string, unknown> = { ...raw };
    if (raw.bindings) next.bindingsFile = store.writeBindings(raw.bindings);
    for (const k of LEGACY_STATE_KEYS) delete next[k];
    writeJsonAtomic(statePath(stateDir), next);
    store.removeUnusedBindings(next.bindingsFile as string | undefined);
    return true;
  });
}

function needsMigration(stateDir: string): boolean {
  if (!existsSync(statePath(stateDir))) return false;
  const store = new StateStore(stateDir);
  store.read();
  return store.unmigrated;
}

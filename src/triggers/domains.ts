import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { loadTriggersFile, type Trigger } from './schema.js';

/**
 * Every domain's `triggers.yaml` under a tree (a live dir or a checkout), for
 * TriggerDispatcher.setDomainTriggers(). `domainsDir` is the folder of the `live.domains` glob
 * (`domains` for `domains/*`). A file that does not parse is returned in `errors` (with
 * file:line) and its domain gets no triggers: one bad domain file must not silence the others.
 */
export function loadDomainTriggers(
  root: string,
  domainsDir = 'domains',
): { triggers: Record<string, Trigger[]>; errors: ConfigError[] } {
  const triggers: Record<string, Trigger[]> = {};
  const errors: ConfigError[] = [];
  const base = join(root, domainsDir);
  if (!existsSync(base) || !statSync(base).isDirectory()) return { triggers, errors };
  for (const entry of readdirSync(base, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const file = join(base, entry.name, 'triggers.yaml');
    if (!existsSync(file)) continue;
    try {
      triggers[entry.name] = loadTriggersFile(file);
    } catch (err) {
      if (err instanceof ConfigError) errors.push(err);
      else throw err;
    }
  }
  return { triggers, errors };
}

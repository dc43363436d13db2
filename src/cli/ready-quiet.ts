import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { freshAddressVerdict } from '../node-state/address-verdict.js';

/**
 * The fast path of `gitfailover ready --quiet` (keepalived's fallback track_script), loaded by bin/
 * without the rest of the tool: exit 0 from the running daemon's fresh yes (role/address-verdict.ts).
 * undefined: no fresh yes, or anything unexpected in the node file; the full command then answers.
 */
export function readyQuietFast(args: string[], env: NodeJS.ProcessEnv = process.env): number | undefined {
  try {
    let file: string | undefined;
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a === '-c' || a === '--config') file = args[++i];
      else if (a.startsWith('--config=')) file = a.slice('--config='.length);
      else if (a !== '--quiet') return undefined; // --json and the like: the full command
    }
    const path = resolve(file ?? env.GITFAILOVER_CONFIG ?? 'gitfailover.yaml');
    const node = parse(readFileSync(path, 'utf8')) as { repo?: { stateDir?: unknown } } | null;
    const stateDir = node?.repo?.stateDir;
    if (typeof stateDir !== 'string' || stateDir === '') return undefined;
    // Only a yes is taken as it is: a no is worked out again (it may have cleared since, e.g. the winner of a split brain was heard).
    return freshAddressVerdict(isAbsolute(stateDir) ? stateDir : resolve(dirname(path), stateDir)) === true
      ? 0
      : undefined;
  } catch {
    return undefined;
  }
}

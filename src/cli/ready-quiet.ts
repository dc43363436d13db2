import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { freshAddressVerdict } from '../role/address-verdict.js';

/**
 * The fast path of `gitfailover ready --quiet` (keepalived's track_script), loaded by bin/ without
 * the rest of the tool: the exit code from the running daemon's fresh verdict
 * (role/address-verdict.ts). undefined: no fresh verdict, or anything unexpected in the node
 * file; the full command then answers (and says what is wrong).
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
    const ready = freshAddressVerdict(isAbsolute(stateDir) ? stateDir : resolve(dirname(path), stateDir));
    return ready === undefined ? undefined : ready ? 0 : 1;
  } catch {
    return undefined;
  }
}

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Pair } from './fixture.js';
import { requireSystem } from './system.js';

export { curl, filesOf, waitFor, writeProftpdPair } from '../../src/demo/kit.js';

/** Production's and the failover's service addresses in the ProFTPD tests (loopback, no namespace). */
export const PROD_IP = '127.0.0.2';
export const FAIL_IP = '127.0.0.3';

const curlProtocols = (() => {
  try {
    return /^Protocols: (.*)$/m.exec(execFileSync('curl', ['-V'], { encoding: 'utf8' }))?.[1]?.split(' ') ?? [];
  } catch {
    return [];
  }
})();

/**
 * Whether a ProFTPD end-to-end test can run here: the Debian packages, root (ProFTPD switches to
 * each session's user; not a package, so its own line) and a curl built with `protocols`. Says
 * what is missing, naming `testFile`, and returns true to skip.
 */
export function skipProftpd(testFile: string, protocols: readonly string[]): boolean {
  const system = requireSystem(['proftpd-core', 'proftpd-mod-crypto', 'curl', 'openssl']);
  const missing = [
    process.getuid?.() === 0 ? undefined : 'root (ProFTPD switches to each session user)',
    !system.ok || protocols.every((p) => curlProtocols.includes(p)) ? undefined : `curl with ${protocols.join(', ')}`,
  ].filter((m): m is string => m !== undefined);
  if (missing.length > 0) console.warn(`\n*** SKIPPED ${testFile}: needs ${missing.join(', ')} ***\n`);
  return !system.ok || missing.length > 0;
}

/** The pair's node files: `prod-1` (primary) and `failover-1` (standby, production's IP mapped), plus `extra`. */
export function writePrimaryNode(pair: Pair, extra: Record<string, unknown>): Record<string, unknown> {
  const node = {
    node: 'prod-1',
    role: 'primary',
    repo: { remote: pair.remote, stateDir: join(pair.dir, 'prod-state') },
    live: { dir: pair.prodLive },
    ...extra,
  };
  writeFileSync(pair.primary, stringify(node));
  return node;
}

export function writeStandbyNode(pair: Pair, extra: Record<string, unknown>): void {
  const node = {
    node: 'failover-1',
    role: 'standby',
    repo: { remote: pair.remote, stateDir: join(pair.dir, 'fail-state') },
    live: { dir: pair.failLive },
    substitution: { ips: { [PROD_IP]: FAIL_IP } },
    ...extra,
  };
  writeFileSync(pair.standby, stringify(node));
}

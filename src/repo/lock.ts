import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { GitfailoverError } from '../errors.js';

/**
 * Serialises work on a node's state dir across processes (two admins running `record`, or the
 * daemon and a hook). proper-lockfile uses an atomic mkdir and refreshes the lock's mtime while
 * held, so a lock left by a killed process goes stale and is taken over instead of blocking forever.
 */
export async function withLock<T>(stateDir: string, name: string, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
  mkdirSync(stateDir, { recursive: true });
  const target = join(stateDir, `${name}.lock-target`);
  writeFileSync(target, '', { flag: 'a' });
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: { retries: Math.ceil(waitMs / 250), minTimeout: 25, maxTimeout: 250, factor: 1.3 },
      onCompromised: () => {
        /* the lock went stale while held (a very long stall); the work itself is idempotent */
      },
    });
  } catch (err) {
    throw new GitfailoverError('E_LOCKED', `${stateDir} is busy (${name} lock held by another gitfailover process); try again`, {
      kind: 'waiting',
      cause: err,
    });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}

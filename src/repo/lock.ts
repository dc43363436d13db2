import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { GitfailoverError } from '../errors.js';
import { pidAlive } from '../util/pid.js';

/**
 * Serialises work on a node's state dir across processes (two admins running `record`, or the
 * daemon and a hook). proper-lockfile uses an atomic mkdir and refreshes the lock's mtime while
 * held, so a lock left by a killed process goes stale and is taken over instead of blocking forever.
 */
export async function withLock<T>(stateDir: string, name: string, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
  mkdirSync(stateDir, { recursive: true });
  const target = join(stateDir, `${name}.lock-target`);
  writeFileSync(target, '', { flag: 'a' });
  takeOverFromDeadOwner(target);
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
    throw new GitfailoverError(
      'E_LOCKED',
      `${stateDir} is busy (${name} lock held by another gitfailover process); try again`,
      {
        kind: 'waiting',
        cause: err,
      },
    );
  }
  const ownerFile = `${target}.owner`;
  try {
    writeFileSync(ownerFile, `${process.pid} ${hostname()}\n`);
  } catch {
    /* a full disk: the lock still holds, only the fast takeover after a crash is lost */
  }
  try {
    return await fn();
  } finally {
    rmSync(ownerFile, { force: true }); // a left owner file then always means a crashed holder
    await release().catch(() => {});
  }
}

/**
 * A lock whose owner process is gone (SIGKILL, OOM kill, power loss of a process but not the
 * host) is taken over at once rather than after the `stale` period above: a crashed daemon restarted
 * by systemd then resumes its interrupted apply without waiting. Only for an owner on this host.
 */
function takeOverFromDeadOwner(target: string): void {
  const lockDir = `${target}.lock`;
  let owner: string[];
  try {
    // The owner file must have been written after the lock dir was made: an older one describes
    // a previous holder, and the current one may not have written its own yet.
    const born = statSync(lockDir).birthtimeMs;
    if (!born || statSync(`${target}.owner`).mtimeMs < born) return;
    owner = readFileSync(`${target}.owner`, 'utf8').trim().split(' ');
  } catch {
    return;
  }
  const pid = Number(owner[0]);
  if (!Number.isInteger(pid) || pid <= 0 || owner[1] !== hostname() || pid === process.pid || pidAlive(pid)) return;
  rmSync(lockDir, { recursive: true, force: true });
}

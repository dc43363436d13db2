import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadNodeFile, type NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { writeJsonAtomic } from '../util/atomic.js';

/**
 * `stateDir/daemon.json`: which node file the running daemon runs with (its hash when it started
 * or last reloaded), so `doctor` can say that the file on disk is not what the daemon runs.
 */
export interface RunningNodeFile {
  pid: number;
  /** The command it was started as (`run`, or its aliases `primary` and `standby`). */
  daemon: 'run' | 'primary' | 'standby';
  file: string;
  sha256: string;
  time: string;
}

export function runningPath(stateDir: string): string {
  return join(stateDir, 'daemon.json');
}

export function hashNodeFile(file: string): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return undefined;
  }
}

export function writeRunning(
  cfg: NodeConfig,
  daemon: RunningNodeFile['daemon'],
  sha256 = hashNodeFile(cfg.file),
): void {
  try {
    mkdirSync(cfg.repo.stateDir, { recursive: true }); // a daemon's first start comes before its first clone
    writeJsonAtomic(runningPath(cfg.repo.stateDir), {
      pid: process.pid,
      daemon,
      file: cfg.file,
      sha256: sha256 ?? '',
      time: new Date().toISOString(),
    } satisfies RunningNodeFile);
  } catch {
    /* a full disk must not stop the daemon: doctor then says it cannot tell */
  }
}

export function clearRunning(cfg: NodeConfig): void {
  if (loadRunning(cfg.repo.stateDir)?.pid === process.pid) rmSync(runningPath(cfg.repo.stateDir), { force: true });
}

export function loadRunning(stateDir: string): RunningNodeFile | undefined {
  const p = runningPath(stateDir);
  if (!existsSync(p)) return undefined;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as RunningNodeFile;
  } catch {
    return undefined;
  }
}

/** What a running daemon cannot change in place: its identity, its clone, its listener. */
const NEEDS_RESTART: ((c: NodeConfig) => unknown)[] = [
  (c) => c.node,
  (c) => c.repo.remote,
  (c) => c.repo.branch,
  (c) => c.repo.stateDir,
  (c) => c.notify.listen,
];
const NEEDS_RESTART_NAMES = ['node', 'repo.remote', 'repo.branch', 'repo.stateDir', 'notify.listen'];

/**
 * SIGHUP (`systemctl reload`): read the node file again and, when it is valid, put its values into
 * `cfg` in place (every part of the daemon holds this one object, so the next sync, record or
 * trigger uses them). An invalid file, or one that changes what needs a restart, keeps the old
 * configuration whole and says why. Returns whether the new file is in force.
 */
export function reloadNodeFile(
  cfg: NodeConfig,
  daemon: RunningNodeFile['daemon'],
  log: { info(m: string): void; error(m: string): void },
): boolean {
  const sha256 = hashNodeFile(cfg.file);
  let next: NodeConfig;
  try {
    next = loadNodeFile({ file: cfg.file });
  } catch (err) {
    log.error(
      `SIGHUP: ${cfg.file} was not reloaded, the daemon keeps the configuration it runs with: ${errorMessage(err)}`,
    );
    return false;
  }
  const changed = NEEDS_RESTART_NAMES.filter(
    (_, i) => JSON.stringify(NEEDS_RESTART[i]!(cfg)) !== JSON.stringify(NEEDS_RESTART[i]!(next)),
  );
  if (changed.length > 0) {
    log.error(
      `SIGHUP: ${cfg.file} changes ${changed.join(', ')}, which only a restart can apply; nothing was reloaded (restart the daemon: systemctl restart)`,
    );
    return false;
  }
  Object.assign(cfg, next);
  writeRunning(cfg, daemon, sha256);
  log.info(`SIGHUP: reloaded ${cfg.file}`);
  return true;
}

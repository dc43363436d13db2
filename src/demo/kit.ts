import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { stringify } from 'yaml';
import { type NodeConfig, parseNodeFile } from '../config/load.js';
import { createLogger } from '../daemon/log.js';
import { PrimaryDaemon } from '../daemon/primary.js';
import { startNode } from '../daemon/supervisor.js';
import { throwawayKeys, writeMainConfig, type ProftpdInstanceFiles } from '../loaders/proftpd/instance.js';
import type { ProftpdSettings } from '../loaders/proftpd/proftpd-loader.js';

/**
 * What the demos and the end-to-end tests share: waiting for a condition, a folder's files as a
 * map, curl's exit code, two ProFTPD instances' files, and a primary and a standby daemon
 * started in this process.
 */

/** Polls `check` every 50 ms until it holds; throws naming `what` after `ms`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every file below `dir`: path relative to it ('/'-separated) -> bytes. */
export function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p).split(sep).join('/'), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** curl with `args`: its exit code (0 logged in; 67 login refused; 7 nothing listens) and stderr. */
export function curl(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', args, { env: { ...process.env, ...env } }, (err, _out, stderr) => {
      const code = (err as NodeJS.ErrnoException | null)?.code;
      resolve({ code: err ? (typeof code === 'number' ? code : 1) : 0, stderr });
    });
  });
}

const DEMO_SECRET = 'env:DEMO_NOTIFY_SECRET';

export interface DemoNodes {
  standbyCfg: NodeConfig;
  primaryCfg: NodeConfig;
  primary: PrimaryDaemon;
  stop(): Promise<void>;
}

/**
 * A standby (`failover-1`) and a primary (`prod-1`) in this process, node files written to
 * `dir/failover.yaml` and `dir/production.yaml`, the standby notified on an ephemeral loopback
 * port (`o.env` holds DEMO_NOTIFY_SECRET). `standbyNode` and `primaryNode` are added to each
 * node file; call `primary.start()` when ready.
 */
export async function startDemoNodes(
  o: { dir: string; remote: string; prodLive: string; env: NodeJS.ProcessEnv },
  standbyNode: Record<string, unknown>,
  primaryNode: Record<string, unknown>,
): Promise<DemoNodes> {
  const standbyFile = join(o.dir, 'failover.yaml');
  const standbyText = stringify({
    node: 'failover-1',
    role: 'standby',
    repo: { remote: o.remote, stateDir: join(o.dir, 'failover', 'state') },
    notify: { listen: '127.0.0.1:0', secret: DEMO_SECRET },
    ...standbyNode,
  });
  writeFileSync(standbyFile, standbyText);
  const standbyCfg = parseNodeFile(standbyFile, standbyText, o.env);
  const standby = await startNode(standbyCfg, { logger: createLogger('failover-1') });
  const primaryFile = join(o.dir, 'production.yaml');
  const primaryText = stringify({
    node: 'prod-1',
    role: 'primary',
    repo: { remote: o.remote, stateDir: join(o.dir, 'production', 'state') },
    live: { dir: o.prodLive },
    // port 0: an ephemeral port, so that a demo runs beside anything that holds 7420
    notify: { listen: '127.0.0.1:0', standbys: [`http://${standby.address}/notify`], secret: DEMO_SECRET },
    ...primaryNode,
  });
  writeFileSync(primaryFile, primaryText);
  const primaryCfg = parseNodeFile(primaryFile, primaryText, o.env);
  const plog = createLogger('prod-1');
  const primary = new PrimaryDaemon(primaryCfg, { out: (l) => plog.info(l), err: (l) => plog.warn(l) });
  return {
    standbyCfg,
    primaryCfg,
    primary,
    stop: async () => {
      await primary.stop();
      await standby.stop();
    },
  };
}

export interface ProftpdPairFiles {
  keys: Awaited<ReturnType<typeof throwawayKeys>>;
  prodFtpd: ProftpdInstanceFiles;
  failFtpd: ProftpdInstanceFiles;
  /** the node file's `proftpd` settings both sides share (throwaway keys, sessions as uid 65534) */
  common: Omit<ProftpdSettings, 'configDir' | 'pidFile'>;
  /** `common` with one instance's config dir and pid file */
  settings(f: ProftpdInstanceFiles): ProftpdSettings;
}

/** Throwaway keys and the main configs of a production and a failover ProFTPD (not started). */
export async function writeProftpdPair(dirs: { keys: string; prod: string; fail: string }): Promise<ProftpdPairFiles> {
  const keys = await throwawayKeys(dirs.keys);
  const prodFtpd = writeMainConfig(dirs.prod, { serverName: 'production' });
  const failFtpd = writeMainConfig(dirs.fail, { serverName: 'failover' });
  const common = {
    binary: 'proftpd',
    sftpHostKeys: [keys.sftpHostKey],
    tlsCertificate: keys.tlsCertificate,
    tlsKey: keys.tlsKey,
    uid: 65534,
    gid: 65534,
    createHomes: true,
    readyTimeout: 10_000,
  };
  return {
    keys,
    prodFtpd,
    failFtpd,
    common,
    settings: (f) => ({ ...common, configDir: f.configDir, pidFile: f.pidFile }),
  };
}

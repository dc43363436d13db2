import { dirname, isAbsolute, resolve } from 'node:path';
import type { NodeConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { FilesLoader } from './files.js';
import type { FsOps } from './fs-ops.js';
import type { Loader } from './loader.js';
import { ProftpdLoader } from './proftpd/proftpd-loader.js';

/** The node file's `loader` -> the Loader a sync (or promote) drives. */
export function makeLoader(cfg: NodeConfig, domainsDir: string, fsOps?: FsOps): Loader {
  if (cfg.loader !== 'proftpd') return new FilesLoader(cfg.live.dir, domainsDir, fsOps);
  const p = cfg.proftpd;
  if (!p)
    throw new ConfigError(
      `${cfg.file}: loader: proftpd needs a "proftpd" section (configDir, pidFile): see README, "Replicating a ProFTPD server"`,
      { file: cfg.file, field: 'proftpd' },
    );
  // Paths in a node file are relative to the node file, as everywhere else.
  const at = (x: string) => (isAbsolute(x) ? x : resolve(dirname(cfg.file), x));
  return new ProftpdLoader(cfg.live.dir, domainsDir, {
    ...p,
    configDir: at(p.configDir),
    mainConfig: p.mainConfig && at(p.mainConfig),
    pidFile: at(p.pidFile),
    templates: p.templates && at(p.templates),
    sftpHostKeys: p.sftpHostKeys.map(at),
    tlsCertificate: p.tlsCertificate && at(p.tlsCertificate),
    tlsKey: p.tlsKey && at(p.tlsKey),
  });
}

import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import type { NodeConfig } from '../config/load.js';

/**
 * The primary's domain folders hold files `record` never takes in (live.exclude, over
 * live.maxFileSize): user data, logs. The loader swaps a whole domain folder in, so when the
 * primary applies commits from the repo, those files are carried into the new folder as they are;
 * a standby never has them. Mutates `domains` (domain -> relative path -> bytes).
 */
export function keepUnrecorded(
  cfg: NodeConfig,
  domains: Map<string, Map<string, Buffer>>,
  domainsDir: string,
  globals?: Map<string, Buffer>,
): void {
  const excluded = cfg.live.exclude.length > 0 ? picomatch([...cfg.live.exclude], { dot: true }) : () => false;
  // A file the primary excludes is production's data, never the repo's to overwrite: should a
  // commit carry one (pushed by hand), the live file stays as it is, in a domain folder or not.
  for (const path of [...(globals?.keys() ?? [])]) {
    if (excluded(path) && isFile(join(cfg.live.dir, path))) globals!.delete(path);
  }
  for (const [domain, files] of domains) {
    const root = join(cfg.live.dir, domainsDir, domain);
    const walk = (dir: string, prefix: string): void => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // a new domain: nothing to keep
      }
      for (const e of entries) {
        const rel = `${prefix}${e.name}`;
        if (e.isDirectory()) walk(join(dir, e.name), `${rel}/`);
        else if (e.isFile()) {
          const path = join(dir, e.name);
          if (excluded(`${domainsDir}/${domain}/${rel}`)) files.set(rel, readFileSync(path));
          else if (!files.has(rel) && lstatSync(path).size > cfg.live.maxFileSize) files.set(rel, readFileSync(path));
        }
      }
    };
    walk(root, '');
  }
}

function isFile(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

import type { NodeConfig } from '../config/load.js';
import { classifyPath, domainsDirOf } from '../model/layout.js';
import { reverseIpMap, type IpMap } from '../render/ip-map.js';
import { isBinary, renderFile, renderOptionsFor, substituteServicesYaml } from '../render/render-file.js';
import { substituteText } from '../render/substitute.js';
import picomatch from 'picomatch';
import type { NodeRepo } from '../repo/node-repo.js';
import type { GitIndex, IndexEntry } from '../repo/git-index.js';

/**
 * A promoted failover records in production's terms, so the repo never holds a failover address
 * and failback needs no translation. Run on the private index after `git add`, for the files that
 * differ from the branch head only (a one-file change stays a one-file cost):
 *  1. a file that is exactly what this node renders from the repo's version is unchanged: keep
 *     the repo's blob (this also keeps `{{ placeholders }}`, which cannot be reversed);
 *  2. otherwise substitute the node's map in reverse (standby address -> production address) in
 *     services.yaml `ip` fields and in `substitution.files` text.
 * A map that cannot be reversed unambiguously throws E_SUBST_AMBIGUOUS (reverseIpMap).
 * Returns warnings (a changed template recorded with its rendered values).
 */
export async function toProductionTerms(
  repo: NodeRepo,
  index: GitIndex,
  cfg: NodeConfig,
  local: string | undefined,
): Promise<string[]> {
  const domainsDir = domainsDirOf(cfg.live.domains);
  const forward = renderOptionsFor(cfg.substitution, cfg.file, domainsDir);
  if (forward.ipMap.entries.length === 0 && Object.keys(cfg.substitution.vars).length === 0) return [];
  const reverse = reverseIpMap(forward.ipMap);
  const textGlobs =
    cfg.substitution.files.length > 0 ? picomatch([...cfg.substitution.files], { dot: true }) : () => false;

  const updates: IndexEntry[] = [];
  const warnings: string[] = [];
  for (const d of await index.diffCached(local)) {
    if (d.status === 'D' || d.newMode === '160000' || d.newMode === '120000') continue;
    const live = await repo.blobs.readBlob(d.newOid);
    if (!live) continue;
    if (d.status !== 'A') {
      const before = await repo.blobs.readBlob(d.oldOid);
      if (before && renderedEquals(d.path, before, live, forward)) {
        updates.push({ mode: d.oldMode, oid: d.oldOid, path: d.path });
        continue;
      }
      if (before?.includes('{{'))
        warnings.push(
          `${d.path} is a template in the repo; it was changed here and is recorded with its rendered values (put the {{ placeholders }} back by hand if they matter)`,
        );
    }
    const back = reverseFile(d.path, live, reverse, domainsDir, textGlobs);
    if (back === live) continue;
    updates.push({ mode: d.newMode, oid: await repo.hashObject(back), path: d.path });
  }
  await index.update(updates);
  return warnings;
}

function renderedEquals(
  path: string,
  repoVersion: Buffer,
  live: Buffer,
  opts: ReturnType<typeof renderOptionsFor>,
): boolean {
  try {
    return renderFile(path, repoVersion, opts).equals(live);
  } catch {
    return false; // the repo's version does not render here (a placeholder without a value): not ours
  }
}

/** The live file with the reversed map applied where the forward map would apply; the same Buffer when nothing changed. */
export function reverseFile(
  path: string,
  content: Buffer,
  reverse: IpMap,
  domainsDir: string,
  textGlob: (p: string) => boolean,
): Buffer {
  if (reverse.entries.length === 0 || isBinary(content)) return content;
  const cls = classifyPath(path, domainsDir);
  const services = cls.kind === 'domain' && cls.file === 'services';
  const textual = textGlob(path);
  if (!services && !textual) return content;
  let text = content.toString('utf8');
  const utf8 = Buffer.from(text, 'utf8').equals(content);
  if (!utf8) text = content.toString('latin1');
  const original = text;
  if (services) {
    try {
      text = substituteServicesYaml(text, reverse, path);
    } catch {
      /* invalid YAML: recorded as written; validate and the standby report it */
    }
  }
  if (textual) text = substituteText(text, reverse).text;
  return text === original ? content : Buffer.from(text, utf8 ? 'utf8' : 'latin1');
}

import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';

/**
 * The manifest (rendered file -> blob id of its bytes, for drift detection) kept in one small
 * file per domain plus one for the global files, instead of inside state.json, which every sync
 * rewrites (bench/findings.md has what that cost): a sync writes only the shards of the domains it
 * applied; the drift check reads them all.
 *
 * Shards are written without fsync: the manifest only feeds the drift check, and a shard lost in
 * a crash is written again by the next apply of its domain.
 */
const DIR = 'manifest';

function domainsShardDir(stateDir: string): string {
  return join(stateDir, DIR, 'domains');
}

function globalsShard(stateDir: string): string {
  return join(stateDir, DIR, 'globals.json');
}

function readShard(path: string): Record<string, string> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch {
    return {}; // missing or torn: drift shows that domain's files as unmanaged until its next apply
  }
}

export function hasManifestShards(stateDir: string): boolean {
  return existsSync(join(stateDir, DIR));
}

/** Every entry of every shard. */
export function loadManifest(stateDir: string): Record<string, string> {
  const out: Record<string, string> = { ...readShard(globalsShard(stateDir)) };
  const dir = domainsShardDir(stateDir);
  if (existsSync(dir))
    for (const f of readdirSync(dir)) if (f.endsWith('.json')) Object.assign(out, readShard(join(dir, f)));
  return out;
}

export function loadGlobalsManifest(stateDir: string): Record<string, string> {
  return readShard(globalsShard(stateDir));
}

/**
 * Replace one domain's entries; `entries` undefined removes the domain. `unlessSame`: read the
 * shard first and leave it when it already holds these entries (reading is cheaper than a write
 * and a rename, for a full sync that mostly re-applies what the shards say).
 */
export function writeDomainManifest(
  stateDir: string,
  domain: string,
  entries: Record<string, string> | undefined,
  opts: { unlessSame?: boolean } = {},
): void {
  if (entries === undefined) {
    rmSync(join(domainsShardDir(stateDir), `${domain}.json`), { force: true });
    return;
  }
  writeDomainManifestText(stateDir, domain, JSON.stringify(entries), opts);
}

/** One domain's shard from its text (JSON of path -> blob id). */
export function writeDomainManifestText(
  stateDir: string,
  domain: string,
  text: string,
  opts: { unlessSame?: boolean } = {},
): void {
  const path = join(domainsShardDir(stateDir), `${domain}.json`);
  if (opts.unlessSame) {
    try {
      if (readFileSync(path, 'utf8') === text) return;
    } catch {
      // not there yet
    }
  }
  mkdirSync(domainsShardDir(stateDir), { recursive: true });
  writeFileAtomic(path, text);
}

function stagingDir(stateDir: string): string {
  return join(stateDir, DIR, 'staging');
}

/**
 * A full sync's shard of a domain, written as soon as the domain is built (so its text is not
 * held until the end) into a staging folder, moved in by commitStagedManifests when the sync
 * commits. Nothing is staged when the shard in place already says the same. Returns false then.
 */
export function stageDomainManifest(stateDir: string, domain: string, text: string): boolean {
  try {
    if (readFileSync(join(domainsShardDir(stateDir), `${domain}.json`), 'utf8') === text) return false;
  } catch {
    // not there yet
  }
  mkdirSync(stagingDir(stateDir), { recursive: true });
  // No fsync: a shard only feeds the drift check (see above); the move in is a rename.
  writeFileSync(join(stagingDir(stateDir), `${domain}.json`), text);
  return true;
}

/** Move the staged shards of `domains` in place, and drop the staging folder. */
export function commitStagedManifests(stateDir: string, domains: Iterable<string>): void {
  const from = stagingDir(stateDir);
  mkdirSync(domainsShardDir(stateDir), { recursive: true });
  for (const d of domains) renameSync(join(from, `${d}.json`), join(domainsShardDir(stateDir), `${d}.json`));
  rmSync(from, { recursive: true, force: true });
}

/** What a sync that did not commit (or was killed) staged. */
export function clearStagedManifests(stateDir: string): void {
  rmSync(stagingDir(stateDir), { recursive: true, force: true });
}

/** Remove the shard of every domain not in `keep` (a full sync: the target's domains are all there are). */
export function removeDomainManifestsExcept(stateDir: string, keep: ReadonlySet<string>): void {
  const dir = domainsShardDir(stateDir);
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    // A shard of a domain gone, or a temp file a killed write left.
    if (!(f.endsWith('.json') && keep.has(f.slice(0, -'.json'.length)))) rmSync(join(dir, f), { force: true });
  }
}

export function writeGlobalsManifest(stateDir: string, entries: Record<string, string>): void {
  mkdirSync(join(stateDir, DIR), { recursive: true });
  writeFileAtomic(globalsShard(stateDir), JSON.stringify(entries));
}

/** Write a whole manifest as shards (a state.json from before the shards, migrated once). */
export function writeManifest(stateDir: string, manifest: Record<string, string>, domainsDir: string): void {
  const prefix = `${domainsDir}/`;
  const byDomain = new Map<string, Record<string, string>>();
  const globals: Record<string, string> = {};
  for (const [p, id] of Object.entries(manifest)) {
    const domain = p.startsWith(prefix) ? p.slice(prefix.length).split('/')[0] : undefined;
    if (domain && p.length > prefix.length + domain.length + 1) {
      let m = byDomain.get(domain);
      if (!m) byDomain.set(domain, (m = {}));
      m[p] = id;
    } else globals[p] = id;
  }
  writeGlobalsManifest(stateDir, globals);
  for (const [d, m] of byDomain) writeDomainManifest(stateDir, d, m);
}

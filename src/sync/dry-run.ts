import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import type { Loader } from '../loaders/loader.js';
import { SECRET_CHANGED } from '../secrets/marks.js';
import { maskSecretFields } from '../util/redact.js';
import type { Rendered } from './check-work.js';
import type { SyncPlan } from './plan.js';

/** --dry-run: unified diffs of the live-dir files the sync would change (secrets named, never shown). */
export function dryRunPatches(
  liveDir: string,
  rendered: Rendered,
  plan: SyncPlan,
  loader: Loader,
  domainsDir: string,
  secrets: ReadonlySet<string>,
): string[] {
  const patches: string[] = [];
  const patch = (path: string, next: Buffer | undefined) => {
    const file = join(liveDir, path);
    if (secrets.has(path)) {
      const old = existsSync(file) ? readFileSync(file) : undefined;
      if (!next || !old?.equals(next))
        patches.push(`${path}: ${next ? (old ? SECRET_CHANGED : '<secret added>') : '<secret removed>'}\n`);
      return;
    }
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    const after = next?.toString('utf8') ?? '';
    if (before !== after)
      patches.push(
        maskSecretFields(
          createTwoFilesPatch(
            existsSync(file) ? `a/${path}` : '/dev/null',
            next ? `b/${path}` : '/dev/null',
            before,
            after,
          ),
        ),
      );
  };
  for (const [d, files] of rendered.domains) {
    for (const [rel, content] of files) patch(`${domainsDir}/${d}/${rel}`, content);
    // A file the reload drops (a removed user) shows as a removal, not as nothing.
    for (const rel of filesUnder(join(liveDir, domainsDir, d)))
      if (!files.has(rel)) patch(`${domainsDir}/${d}/${rel}`, undefined);
  }
  for (const [p, content] of rendered.globals) patch(p, content);
  for (const d of plan.delete) patches.push(`domain ${d} would be deleted (${loader.domainDir(d)})\n`);
  for (const p of plan.removeGlobal) patch(p, undefined);
  return patches;
}

/** Files under `dir`, relative and with `/`, staging and hidden gitfailover folders left out. */
function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.gitfailover')) continue;
    if (e.isDirectory()) out.push(...filesUnder(join(dir, e.name), `${prefix}${e.name}/`));
    else if (e.isFile()) out.push(`${prefix}${e.name}`);
  }
  return out;
}

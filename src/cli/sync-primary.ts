import type { NodeConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { record } from '../record/record.js';
import { reportRecord } from './primary.js';
import { printableText } from '../model/admit.js';

/**
 * `gitfailover sync` on the primary: take in the commits on the remote this node did not make
 * (live edits are kept: merged and recorded on top). `--dry-run` prints what would change in the
 * live dir. `--to` has no meaning here: the primary only moves forward (use "gitfailover revert").
 */
export async function syncPrimary(
  cfg: NodeConfig,
  o: { full?: boolean; to?: string; dryRun?: boolean },
): Promise<void> {
  if (o.to)
    throw new ConfigError(
      `sync --to is for standbys: ${cfg.node} is the primary, which always takes in the head of ${cfg.repo.branch} (undo a commit with "gitfailover revert <commit>")`,
    );
  const r = await record(cfg, { dryRun: o.dryRun, full: o.full, log: (l) => process.stdout.write(`${l}\n`) });
  if (!o.dryRun) return reportRecord(cfg, r);
  if (!r.incoming) {
    process.stdout.write(`up to date: no commit on ${cfg.repo.branch} that this primary has not applied\n`);
  } else {
    const p = r.incoming.sync.plan;
    process.stdout.write(`would apply ${r.incoming.incoming.length} commit(s) from ${cfg.repo.branch}:\n`);
    for (const c of r.incoming.incoming)
      process.stdout.write(`  ${c.commit.slice(0, 12)} ${printableText(c.subject)} (${printableText(c.author)})\n`);
    if (p)
      process.stdout.write(
        `  load:   ${p.load.join(', ') || '-'}\n  delete: ${p.delete.join(', ') || '-'}\n  global: ${[...p.writeGlobal, ...p.removeGlobal].join(', ') || '-'}\n`,
      );
    for (const patch of r.incoming.sync.patches ?? []) process.stdout.write(patch);
    if (r.conflict) process.stdout.write(`${r.conflict.text}\n`);
  }
  if (r.changes.length > 0 && !r.incoming)
    process.stdout.write(
      `live edits not recorded yet: ${r.changes.length} change(s) ("gitfailover record" records them)\n`,
    );
}

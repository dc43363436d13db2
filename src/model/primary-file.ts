import { parse, stringify } from 'yaml';

/**
 * `.gitfailover/primary` in the config repo names the one node allowed to record, and an epoch
 * that grows with every role change. The remote's fast-forward rule makes it a fence: a node can
 * only push on top of the latest role commit it has seen.
 */
export const PRIMARY_FILE = '.gitfailover/primary';

export interface PrimaryRecord {
  node: string;
  epoch: number;
  time: string;
  reason: string;
}

export function parsePrimaryRecord(text: string): PrimaryRecord | undefined {
  try {
    const v = parse(text) as Partial<PrimaryRecord> | null;
    if (!v || typeof v.node !== 'string' || typeof v.epoch !== 'number') return undefined;
    return { node: v.node, epoch: v.epoch, time: String(v.time ?? ''), reason: String(v.reason ?? '') };
  } catch {
    return undefined;
  }
}

export function formatPrimaryRecord(r: PrimaryRecord): string {
  return `# Written by gitfailover: the node allowed to record configuration. Change it with\n# "gitfailover promote" / "gitfailover demote", not by hand.\n${stringify(r)}`;
}

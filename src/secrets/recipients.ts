import type { NodeRepo } from '../repo/node-repo.js';
import { META_DIR } from '../model/layout.js';
import { looksLikeRecipient } from './age.js';

/** `.gitfailover/recipients/<node>`: one node's age recipient, committed like any configuration. */
export const RECIPIENTS_DIR = `${META_DIR}/recipients`;

export interface RecipientEntry {
  node: string;
  recipient: string;
}

/** The recipient in a recipients file: its one `age1…` line (comments allowed); undefined when there is none. */
export function parseRecipientFile(text: string): string | undefined {
  return text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !l.startsWith('#') && looksLikeRecipient(l));
}

export function formatRecipientFile(node: string, recipient: string): string {
  return `# age recipient of node ${node}: every declared secret is encrypted to it\n${recipient}\n`;
}

/** The recipients a commit (or tree) names, by node, sorted; a file without a valid recipient is skipped. */
export async function readRecipients(repo: NodeRepo, rev: string | undefined): Promise<RecipientEntry[]> {
  if (!rev) return [];
  const entries = (await repo.lsTree(rev, [`${RECIPIENTS_DIR}/`])).filter((e) => e.type === 'blob');
  const out: RecipientEntry[] = [];
  for (const e of entries) {
    const content = await repo.blobs.readBlob(e.oid);
    const recipient = content && parseRecipientFile(content.toString('utf8'));
    if (recipient) out.push({ node: e.path.slice(RECIPIENTS_DIR.length + 1), recipient });
  }
  return out.sort((a, b) => a.node.localeCompare(b.node));
}

import { describeChange, summarizeChanges } from '../model/describe.js';
import type { Change } from '../model/types.js';

export interface MessageInput {
  changes: Change[];
  operatorMessage?: string;
  actor: string;
  node: string;
  firstRecord?: boolean;
}

/**
 * The audit trail: a subject a person reads in `git log --oneline`, a body with every change,
 * the operator's own words, and trailers (`Changed-By:`, `Node:`) that `log` parses back.
 */
export function commitMessage(m: MessageInput): string {
  const subject = m.firstRecord
    ? `initial configuration of ${m.node}`
    : summarizeChanges(m.changes, 72) || 'update configuration';
  const parts = [subject];
  if (m.operatorMessage?.trim()) parts.push(m.operatorMessage.trim());
  if (m.changes.length > 0) parts.push(['Changes:', ...m.changes.map((c) => `- ${describeChange(c)}`)].join('\n'));
  parts.push(`Changed-By: ${m.actor}\nNode: ${m.node}`);
  return `${parts.join('\n\n')}\n`;
}

/** `Key: value` trailers of a commit body. */
export function parseTrailers(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  const paragraphs = body.trimEnd().split(/\n\s*\n/);
  for (const line of (paragraphs[paragraphs.length - 1] ?? '').split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const START = '<!-- bench:start -->';
export const END = '<!-- bench:end -->';

/**
 * Put `body` between the bench markers of BENCHMARKS.md and leave everything else as it is:
 * other engineers keep their own sections (ProFTPD, isomorphic-git) in the same file.
 * A file without markers keeps its text after our block.
 */
export function spliceReport(existing: string | undefined, body: string): string {
  const block = `${START}\n${body.trim()}\n${END}`;
  if (existing === undefined || existing.trim() === '') return `${block}\n`;
  const s = existing.indexOf(START);
  const e = existing.indexOf(END);
  if (s >= 0 && e > s) return existing.slice(0, s) + block + existing.slice(e + END.length);
  return `${block}\n\n${existing.trimStart()}`;
}

export function writeReport(file: string, body: string): void {
  const existing = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  writeFileSync(file, spliceReport(existing, body));
}

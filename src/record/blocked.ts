import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Problem } from '../model/parse.js';
import { writeJsonAtomic } from '../util/atomic.js';

/**
 * A record the admission rules refused, kept in the state dir until a record passes them: what
 * `status`, the status page and `/readyz` report ("recording blocked: <file>: <why>"), whether the
 * refusal came from the daemon or from `gitfailover record`.
 */
export interface RecordBlocked {
  time: string;
  problems: Pick<Problem, 'file' | 'line' | 'col' | 'code' | 'message'>[];
}

const FILE = 'record-blocked.json';

export function saveRecordBlocked(stateDir: string, problems: readonly Problem[]): void {
  writeJsonAtomic(join(stateDir, FILE), {
    time: new Date().toISOString(),
    problems: problems.map(({ file, line, col, code, message }) => ({ file, line, col, code, message })),
  });
}

export function clearRecordBlocked(stateDir: string): void {
  rmSync(join(stateDir, FILE), { force: true });
}

export function loadRecordBlocked(stateDir: string): RecordBlocked | undefined {
  const path = join(stateDir, FILE);
  if (!existsSync(path)) return undefined;
  try {
    const b = JSON.parse(readFileSync(path, 'utf8')) as RecordBlocked;
    return Array.isArray(b.problems) && b.problems.length > 0 ? b : undefined;
  } catch {
    return undefined;
  }
}

/** "recording blocked: <file>: <why> [CODE] (and N more)". */
export function blockedLine(b: RecordBlocked): string {
  const p = b.problems[0]!;
  const more = b.problems.length > 1 ? ` (and ${b.problems.length - 1} more)` : '';
  return `recording blocked: ${p.file}: ${p.message} [${p.code}]${more}`;
}

/** Each problem as one line, for events and logs. */
export function problemLines(problems: readonly Pick<Problem, 'file' | 'code' | 'message'>[]): string[] {
  return problems.map((p) => `${p.file}: ${p.message} [${p.code}]`);
}

import { redact } from '../util/redact.js';

/** One line per event: readable on a terminal, JSON lines with --log-format json (journald, Loki). */
export type LogFormat = 'text' | 'json';

export interface Logger {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export function createLogger(
  node: string,
  format: LogFormat = 'text',
  out: NodeJS.WritableStream = process.stdout,
): Logger {
  const write = (level: string, msg: string, data?: Record<string, unknown>) => {
    const time = new Date().toISOString();
    const line = oneLine(msg);
    if (format === 'json') out.write(`${redact(JSON.stringify({ time, level, node, msg: line, ...data }))}\n`);
    else out.write(`${time} ${node} ${level === 'info' ? '' : `${level.toUpperCase()} `}${line}\n`);
  };
  return {
    info: (m, d) => write('info', m, d),
    warn: (m, d) => write('warn', m, d),
    error: (m, d) => write('error', m, d),
  };
}

/**
 * A message as one log line: git's multi-line stderr folded (one event, one line, for journald
 * and Loki), and any credential in a URL masked, whatever produced the text.
 */
export function oneLine(msg: string): string {
  return redact(msg.replace(/\s*\r?\n\s*/g, ' | ').trimEnd());
}

/** The primary daemon's two streams (PrimaryOutput) as log lines: plain text as before, or JSON lines. */
export function primaryOutput(node: string, format: LogFormat): { out(line: string): void; err(line: string): void } {
  if (format === 'text') {
    return { out: (l) => process.stdout.write(`${oneLine(l)}\n`), err: (l) => process.stderr.write(`${oneLine(l)}\n`) };
  }
  const out = createLogger(node, 'json', process.stdout);
  const err = createLogger(node, 'json', process.stderr);
  return {
    out: (l) => out.info(l),
    err: (l) => (l.startsWith('warning: ') ? err.warn(l.slice(9)) : err.error(l)),
  };
}

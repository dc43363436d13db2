/** One line per event: readable on a terminal, JSON lines with --log-format json (journald, Loki). */
export type LogFormat = 'text' | 'json';

export interface Logger {
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export function createLogger(node: string, format: LogFormat = 'text', out: NodeJS.WritableStream = process.stdout): Logger {
  const write = (level: string, msg: string, data?: Record<string, unknown>) => {
    const time = new Date().toISOString();
    if (format === 'json') out.write(JSON.stringify({ time, level, node, msg, ...data }) + '\n');
    else out.write(`${time} ${node} ${level === 'info' ? '' : `${level.toUpperCase()} `}${msg}\n`);
  };
  return {
    info: (m, d) => write('info', m, d),
    warn: (m, d) => write('warn', m, d),
    error: (m, d) => write('error', m, d),
  };
}

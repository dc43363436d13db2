/** Reports `done` of `total` domains; called as work advances, and once more at the end. */
export type Progress = (done: number, total: number) => void;

/**
 * Progress on a terminal only: `label: 1234/10000 domains (456/s)` rewritten in place on stderr,
 * at most ten times a second, for 50 domains or more; undefined when the stream is not a TTY (cron, systemd, pipes), so
 * callers pass it straight on and nothing is printed there.
 */
export function terminalProgress(label: string, stream: NodeJS.WriteStream = process.stderr): Progress | undefined {
  if (!stream.isTTY) return undefined;
  const started = Date.now();
  let last = 0;
  return (done, total) => {
    if (total < 50) return; // a handful of domains is done before a progress line could help
    const now = Date.now();
    const finished = done >= total;
    if (!finished && now - last < 100) return;
    last = now;
    const rate = done / Math.max(0.001, (now - started) / 1000);
    stream.write(`\r\x1b[2K${label}: ${done}/${total} domains (${rate >= 10 ? Math.round(rate) : rate.toFixed(1)}/s)`);
    if (finished) stream.write('\n');
  };
}

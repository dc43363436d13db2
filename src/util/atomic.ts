import { closeSync, fsyncSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/** Write beside the target, fsync, rename over it: a reader sees the old file or the new one, never half. */
export function writeFileAtomic(
  path: string,
  data: string | Buffer,
  opts: { fsync?: boolean; mode?: number } = {},
): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  if (opts.fsync) {
    const fd = openSync(tmp, 'w', opts.mode ?? 0o644);
    try {
      writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } else {
    writeFileSync(tmp, data, { mode: opts.mode ?? 0o644 });
  }
  renameSync(tmp, path);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { fsync: true });
}

// A concurrent reader of a standby's live dir, as the server would be: it reads every file over
// and over and checks the checksum line each one ends with (`# sum: <sha256 of what precedes>`).
// A half-written file fails the check. Violations are appended to argv[3] at once, so the trial
// runner can tell which trial caused one. Files vanishing between readdir and read are a swap in
// progress, not a violation (the server would open the new one).
import { appendFileSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

const [liveDir, violationsFile] = process.argv.slice(2);
let reads = 0;
let stopping = false;
process.on('SIGTERM', () => (stopping = true));

export function verify(buf) {
  const text = buf.toString('utf8');
  const at = text.lastIndexOf('# sum: ');
  if (at < 0 || !text.endsWith('\n')) return false;
  const sum = text.slice(at + 7, -1);
  return createHash('sha256').update(text.slice(0, at)).digest('hex') === sum;
}

function walk(dir) {
  let names;
  try {
    names = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of names) {
    if (e.name.startsWith('.gitfailover')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else {
      let buf;
      try {
        buf = readFileSync(p);
      } catch {
        continue;
      }
      reads++;
      if (!verify(buf)) appendFileSync(violationsFile, `${new Date().toISOString()} ${p} (${buf.length} bytes)\n`);
    }
  }
}

while (!stopping) {
  walk(liveDir);
  await new Promise((r) => setTimeout(r, 2)); // leave the CPU to the apply between passes
}
process.stdout.write(`${JSON.stringify({ reads })}\n`);

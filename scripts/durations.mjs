// `npm run test:durations`: the seconds each test file took in a whole-suite run (vitest's JSON
// report), longest first, into test/setup/durations.json for the long-first sequencer.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const rows = report.testResults.map((f) => [relative(process.cwd(), f.name), (f.endTime - f.startTime) / 1000]);
rows.sort((a, b) => b[1] - a[1]);
const out = Object.fromEntries(rows.map(([name, s]) => [name, Math.round(s * 10) / 10]));
writeFileSync('test/setup/durations.json', `${JSON.stringify(out, null, 1)}\n`);
console.log(`test/setup/durations.json: ${rows.length} files`);

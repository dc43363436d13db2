import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

/**
 * Collects the suites test/helpers/system.ts skipped for a missing Debian package and prints one
 * summary at the end of the run, so a green run on a bare machine says what it did not test.
 */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'gf-system-skips-'));
  const file = join(dir, 'skipped');
  project.provide('systemSkipsFile', file);
  return () => {
    let lines: string[] = [];
    try {
      lines = [...new Set(readFileSync(file, 'utf8').split('\n').filter(Boolean))];
    } catch {
      // nothing was skipped
    }
    rmSync(dir, { recursive: true, force: true });
    if (lines.length === 0) return;
    process.stdout.write(
      `\nSkipped for missing system packages (${lines.length} suite${lines.length === 1 ? '' : 's'}; \`npm run setup:system\` installs them, CI=true fails instead):\n${lines.map((l) => `  ${l}`).join('\n')}\n`,
    );
  };
}

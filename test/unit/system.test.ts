import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { missingPackages, systemPackages } from '../helpers/system.js';

/**
 * The rule for suites that need a Debian package, seen from outside: a child vitest runs a fixture
 * suite that needs chromium, with chromium reported missing (GF_TEST_PRETEND_MISSING, since the
 * test cannot uninstall it), once as on a developer's machine and once as in CI.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const CONFIG = join(ROOT, 'test/setup/fixtures/vitest.config.ts');
const out = mkdtempSync(join(tmpdir(), 'gf-system-test-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

function childVitest(env: Record<string, string>, report: string): Promise<{ code: number; output: string }> {
  const childEnv = { ...process.env, ...env };
  delete childEnv.VITEST; // the child is a vitest of its own, not a worker of this one
  if (env.CI === undefined) delete childEnv.CI;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        join(ROOT, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--config',
        CONFIG,
        '--reporter=default',
        '--reporter=json',
        `--outputFile.json=${report}`,
      ],
      { cwd: ROOT, env: childEnv, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

describe('missing system packages', () => {
  it('lists every package of .ci/system-packages.txt, and dpkg knows the installed ones', () => {
    const list = systemPackages();
    expect(list).toContain('git');
    expect(list).toContain('chromium');
    expect(missingPackages(['git'])).toEqual([]);
    expect(missingPackages(['gitfailover-no-such-package'])).toEqual(['gitfailover-no-such-package']);
  });

  it('skips the suite with one line naming the package and the install command, and end with a summary', async () => {
    const report = join(out, 'dev.json');
    const r = await childVitest({ GF_TEST_PRETEND_MISSING: 'chromium' }, report);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain(
      'SKIPPED test/setup/fixtures/needs-chromium.fixture.ts: needs the Debian package chromium, not installed; `npm run setup:system`',
    );
    expect(r.output).toMatch(
      /Skipped for missing system packages \(1 suite;[^\n]*\n {2}test\/setup\/fixtures\/needs-chromium\.fixture\.ts: chromium\n/,
    );
    const json = JSON.parse(readFileSync(report, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
    };
    expect(json).toMatchObject({ numPassedTests: 1, numFailedTests: 0, numPendingTests: 1 });
  });

  it('with CI=true the same run fails, naming the missing package', async () => {
    const report = join(out, 'ci.json');
    const r = await childVitest({ GF_TEST_PRETEND_MISSING: 'chromium', CI: 'true' }, report);
    expect(r.code, r.output).toBe(1);
    expect(r.output).toContain(
      'CI=true: a missing package fails the run instead of skipping it. test/setup/fixtures/needs-chromium.fixture.ts: needs the Debian package chromium',
    );
    expect(r.output).not.toContain('Skipped for missing system packages');
    const json = JSON.parse(readFileSync(report, 'utf8')) as { numFailedTests: number };
    expect(json.numFailedTests).toBe(1);
  });

  it('runs the suite when the package is installed', async () => {
    const report = join(out, 'ok.json');
    const r = await childVitest({ CI: 'true' }, report);
    expect(r.code, r.output).toBe(0);
    const json = JSON.parse(readFileSync(report, 'utf8')) as { numPassedTests: number; numPendingTests: number };
    expect(json).toMatchObject({ numPassedTests: 2, numPendingTests: 0 });
  });
});

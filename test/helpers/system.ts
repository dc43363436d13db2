import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inject, it } from 'vitest';

/**
 * One rule for suites that run a Debian package for real (sshd, chromium, ProFTPD, ...):
 *
 *   const system = requireSystem(['openssh-server']);
 *   describe.skipIf(!system.ok)('ssh remote', () => { ... });
 *
 * When a package is not installed, the suite is skipped with one line naming it and the command
 * that installs them all, and the run ends with a summary of what was skipped
 * (test/setup/system-skips.ts). With CI=true (.ci/run sets it) a missing package is a failed test
 * instead, so CI never passes by skipping.
 */

const LIST = fileURLToPath(new URL('../../.ci/system-packages.txt', import.meta.url));
export const INSTALL_HINT = 'npm run setup:system';

/** The packages of .ci/system-packages.txt, the one list that CI and `npm run setup:system` install. */
export function systemPackages(): string[] {
  return readFileSync(LIST, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}

/**
 * Which of `packages` dpkg does not report as installed. GF_TEST_PRETEND_MISSING (a comma list)
 * marks packages missing although installed: the one fake here, for test/unit/system.test.ts,
 * which cannot uninstall chromium to see the rule work.
 */
export function missingPackages(packages: readonly string[]): string[] {
  const pretend = new Set((process.env.GF_TEST_PRETEND_MISSING ?? '').split(',').filter(Boolean));
  let out = '';
  try {
    out = execFileSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...packages], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch (err) {
    // dpkg-query exits 1 when one package is unknown, and still prints the others.
    out = String((err as { stdout?: string }).stdout ?? '');
  }
  const installed = new Set(
    out
      .split('\n')
      .filter((l) => l.endsWith(' install ok installed'))
      .map((l) => l.split(' ')[0]),
  );
  return packages.filter((p) => !installed.has(p) || pretend.has(p));
}

export interface SystemCheck {
  ok: boolean;
  missing: string[];
}

export function requireSystem(packages: readonly string[]): SystemCheck {
  const listed = new Set(systemPackages());
  const unlisted = packages.filter((p) => !listed.has(p));
  if (unlisted.length > 0) {
    throw new Error(
      `requireSystem: ${unlisted.join(', ')} not in .ci/system-packages.txt; add ${unlisted.length === 1 ? 'it' : 'them'} there so that CI and \`${INSTALL_HINT}\` install ${unlisted.length === 1 ? 'it' : 'them'}`,
    );
  }
  const missing = missingPackages(packages);
  if (missing.length === 0) return { ok: true, missing };
  const suite = callerFile();
  const line = `${suite}: needs the Debian package${missing.length === 1 ? '' : 's'} ${missing.join(', ')}, not installed; \`${INSTALL_HINT}\` (as root) installs every package the tests use`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    it(`system packages installed: ${missing.join(', ')}`, () => {
      throw new Error(`CI=true: a missing package fails the run instead of skipping it. ${line}`);
    });
  } else {
    console.warn(`SKIPPED ${line}`);
    recordSkip(`${suite}: ${missing.join(', ')}`);
  }
  return { ok: false, missing };
}

/** The test file that called requireSystem, for the skip line and the summary. */
function callerFile(): string {
  const stack = new Error().stack ?? '';
  const m = /(test\/[^\s:()]+\.(?:test|fixture)\.ts)/.exec(stack);
  return m?.[1] ?? 'a test file';
}

function recordSkip(line: string): void {
  let file: string | undefined;
  try {
    file = inject('systemSkipsFile');
  } catch {
    // run outside the project's vitest config (no globalSetup): the warning line is all there is
  }
  if (file) appendFileSync(file, `${line}\n`);
}

declare module 'vitest' {
  export interface ProvidedContext {
    systemSkipsFile: string;
  }
}

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, removeDir, tempDir } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';

const UNITS = ['gitfailover.service'];
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function analyze(args: string[]): Promise<{ code: number; stderr: string; missing: boolean }> {
  return new Promise((resolve) => {
    execFile('systemd-analyze', args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stderr, missing: e?.code === 'ENOENT' });
    });
  });
}

describe.skipIf(!requireSystem(['systemd']).ok)('the shipped systemd units', () => {
  it.each(UNITS)(
    '%s passes systemd-analyze verify, reloads with SIGHUP, and does not pair NoNewPrivileges with sudo advice',
    async (unit) => {
      const probe = await analyze(['--version']);
      // The one reason to skip: the binary is absent (.ci/run installs the systemd package).
      if (probe.missing) {
        console.warn('systemd-analyze is not installed (apt-get install systemd): the unit check is skipped');
        return;
      }
      const dir = tempDir('gf-unit-');
      dirs.push(dir);
      const file = join(dir, unit);
      // The shipped unit runs the installed `gitfailover` (systemd looks in /usr/local/bin, /usr/bin:
      // package.test.ts checks that `npm install -g` puts it there). This machine has no global
      // install, so verify checks the same unit pointed at this checkout's binary.
      const shipped = readFileSync(join(ROOT, 'templates/systemd', unit), 'utf8');
      expect(shipped).toMatch(/^ExecStart=gitfailover /m);
      writeFileSync(
        file,
        shipped.replace(/^ExecStart=gitfailover /m, `ExecStart=${join(ROOT, 'bin', 'gitfailover.js')} `),
      );
      const r = await analyze(['verify', file]);
      expect(r.code, r.stderr).toBe(0);
      // verify exits 0 on some warnings too: an unknown or misspelt directive must not slip through.
      expect(r.stderr).not.toMatch(/Unknown (key|section|lvalue)|Failed to parse|is not executable|Invalid/i);

      const text = readFileSync(file, 'utf8');
      expect(text).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
      // Under no_new_privs sudo cannot elevate: the unit and the README must not advise it.
      expect(text).toMatch(/^NoNewPrivileges=true$/m);
      expect(text).not.toMatch(/sudoers rule for/);
      const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
      expect(readme).not.toMatch(/grant exactly that command \(a sudoers/);
      expect(readme).toMatch(/polkit\.addRule/);
    },
    60_000,
  );
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/fixture.js';

describe('npm run demo', () => {
  it('replicates a change and a revert between two daemons, then removes its folder', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [join(ROOT, 'dist/demo/demo.js')], { timeout: 60_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('ip: 10.1.0.5');
    expect(stdout).toMatch(/carol arrived on the failover \d+ms/);
    expect(stdout).toMatch(/acme: add user carol/);
    expect(stdout).toMatch(/Revert "acme: add user carol"/);
    expect(stdout).toMatch(/the failover is at (\w+) = remote head \1/);
    const dir = /set-up in (\S+)/.exec(stdout)![1]!;
    expect(existsSync(dir)).toBe(false);
  });
});

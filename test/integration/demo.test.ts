import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/fixture.js';
import { requireSystem } from '../helpers/system.js';

function demo(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile(
      process.execPath,
      [join(ROOT, 'dist/demo/demo.js'), ...args],
      { timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
    ),
  );
}

/** Hold `host:port` for the whole file, as something else on the machine would; taken already is as good. */
function hold(host: string, port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, host, () => resolve(s));
  });
}

// The ports the demos once bound: 7420 (the default notify.listen), 21021/21022 (ProFTPD's).
const held: (Server | undefined)[] = [];
beforeAll(async () => {
  held.push(await hold('127.0.0.1', 7420));
  for (const ip of ['127.0.0.2', '127.0.0.3']) for (const port of [21021, 21022]) held.push(await hold(ip, port));
});
afterAll(() => {
  for (const s of held) s?.close();
});

describe('npm run demo', () => {
  it('replicates a change and a revert between two daemons on ephemeral ports, then removes its folder', async () => {
    const { code, stdout, stderr } = await demo([]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('ip: 10.1.0.5');
    expect(stdout).toMatch(/carol arrived on the failover \d+ms/);
    expect(stdout).toMatch(/acme: add user carol/);
    expect(stdout).toMatch(/Revert "acme: add user carol"/);
    expect(stdout).toMatch(/the failover is at (\w+) = remote head \1/);
    expect(stdout).toMatch(/prod-1 listening on 127\.0\.0\.1:(?!7420\b)\d+:/);
    const dir = /set-up in (\S+)/.exec(stdout)![1]!;
    expect(existsSync(dir)).toBe(false);
  });

  const system = requireSystem(['proftpd-core', 'proftpd-mod-crypto', 'curl', 'openssl']);
  it.skipIf(!system.ok || process.getuid?.() !== 0)(
    '--proftpd: a user added on production logs in on the failover, on free ports',
    async () => {
      const { code, stdout, stderr } = await demo(['--proftpd']);
      expect(code, stdout + stderr).toBe(0);
      expect(stdout).toMatch(/carol logs in on the failover \d+ms/);
      const ftp = /curl -u carol:carol-pw ftp:\/\/127\.0\.0\.3:(\d+)\//.exec(stdout);
      expect(ftp).not.toBeNull();
      expect([21021, 21022]).not.toContain(Number(ftp![1]));
    },
  );
});

import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cli,
  initRemote,
  makePair,
  removeDir,
  tempDir,
  writeDomain,
  writeFile,
  type Pair,
} from '../helpers/fixture.js';

const dirs: string[] = [];
const pairs: Pair[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
  for (const p of pairs.splice(0)) removeDir(p.dir);
});

/** A port nothing listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('doctor', () => {
  it('reports an unreachable remote and a missing command, each with its fix, and exits 1', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const smtpPort = await closedPort();
    const node = join(dir, 'node.yaml');
    writeFile(
      node,
      stringify({
        node: 'failover-1',
        role: 'standby',
        repo: { remote: join(dir, 'no-such-remote.git'), stateDir: join(dir, 'state') },
        live: { dir: join(dir, 'live') },
        commands: { load: ['/nonexistent/mft-admin', 'load-domain'], check: ['true'] },
        notify: { listen: '127.0.0.1:0' },
        triggers: [{ on: 'sync', email: { to: 'ops@example.com', smtp: { host: '127.0.0.1', port: smtpPort } } }],
      }),
    );
    const r = await cli(['doctor', '-c', node]);
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    const fixAfter = (re: RegExp) => {
      const i = lines.findIndex((l) => re.test(l));
      expect(i, r.stdout).toBeGreaterThanOrEqual(0);
      expect(lines[i + 1], r.stdout).toMatch(/^\s+fix: \S/);
      return lines[i + 1]!;
    };
    expect(r.stdout).toMatch(/^ok {4}node file: /m);
    expect(r.stdout).toMatch(/^ok {4}git: git version /m);
    expect(fixAfter(/^FAIL {2}remote: .*no-such-remote\.git/)).toMatch(/credentials|URL/);
    expect(fixAfter(/^FAIL {2}commands\.load: \/nonexistent\/mft-admin: no such file/)).toMatch(/commands\.load/);
    expect(r.stdout).toMatch(/^ok {4}commands\.check: true -> \//m);
    expect(fixAfter(/^FAIL {2}triggers\[0\]\.email: SMTP 127\.0\.0\.1:\d+/)).toMatch(/smtp/);
    expect(r.stdout).toMatch(/^ok {4}notify\.listen: /m);
    expect(r.stdout).toMatch(/checks failed\n$/);
  });

  it('on a standby, finds a production IP of the repo that substitution.ips does not cover', async () => {
    const p = makePair({ standby: { notify: { listen: '127.0.0.1:0' } } });
    pairs.push(p);
    await initRemote(p);
    writeDomain(p.prodLive, 'acme', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    writeDomain(p.prodLive, 'beta', { services: [{ name: 's', protocol: 'sftp', ip: '10.0.0.9', port: 22 }] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const r = await cli(['doctor', '-c', p.standby]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL {2}substitution: 1 service IP\(s\) .*10\.0\.0\.9/m);
    expect(r.stdout).toMatch(/^ok {4}remote: /m);
    expect(r.stdout).toMatch(/^ok {4}branch: main is at /m);
  });
});

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../helpers/fixture.js';
import { makeNet, removeNet, type Net } from '../helpers/netns.js';
import { requireSystem } from '../helpers/system.js';
import { keepalivedVars, renderKeepalived } from '../helpers/vip-pair.js';

/**
 * templates/keepalived/keepalived.conf, rendered for both nodes, passes keepalived's own config
 * test. `keepalived -t` needs the interface to exist, so it runs inside a namespace of its own
 * (test/helpers/netns.ts) whose veth0 is the interface the template names.
 */

const system = requireSystem(['keepalived', 'iproute2']);
const root = process.getuid?.() === 0;
if (!root) console.warn('\n*** SKIPPED test/integration/keepalived-template.test.ts: needs root (ip netns) ***\n');

describe.skipIf(!system.ok || !root)('templates/keepalived', () => {
  let net: Net | undefined;
  const dir = tempDir('gf-kt-');
  afterAll(() => {
    if (net) removeNet(net);
    removeDir(dir);
  });

  it('renders for production and failover and passes "keepalived -t"; every hook is the tool, never a shell', () => {
    net = makeNet();
    for (const node of ['prod', 'fail'] as const) {
      const file = join(dir, `${node}.conf`);
      const text = renderKeepalived(
        keepalivedVars(node, {
          nodeFile: '/etc/gitfailover/gitfailover.yaml',
          stateDir: join(dir, node),
          advertInt: 1,
        }),
      );
      writeFileSync(file, text);
      const r = spawnSync('ip', ['netns', 'exec', net.ns[node], 'keepalived', '-t', '-f', file], { encoding: 'utf8' });
      expect(r.status, `${node}: ${r.stderr}`).toBe(0);
      expect(r.stderr).not.toMatch(/WARNING|unknown keyword|invalid/i);
      expect(text).toMatch(/^\s*state BACKUP$/m);
      expect(text).toMatch(/^\s*nopreempt$/m);
      expect(text).toMatch(/^\s*enable_script_security$/m);
      // keepalived reads the daemon's answer from a file; the script is the fallback.
      expect(text).toMatch(/track_file \{\s*gitfailover_ready_file\s*\}/);
      expect(text).toContain(`file "${join(dir, node)}/keepalived.track"`);
      for (const hook of ['ready --quiet', 'vrrp master', 'vrrp backup', 'vrrp fault', 'vrrp stop'])
        expect(text).toContain(`gitfailover.js ${hook} -c /etc/gitfailover/gitfailover.yaml"`);
      for (const line of text.split('\n').filter((l) => /^\s*(script|notify_\w+) /.test(l)))
        expect(line, line).not.toMatch(/\/bin\/(ba)?sh|&&|\||;/);
    }
    // A broken file is refused by the same command: the test can fail.
    const bad = join(dir, 'bad.conf');
    writeFileSync(
      bad,
      renderKeepalived(keepalivedVars('prod', { nodeFile: '/x.yaml', stateDir: dir, advertInt: 1 })).replaceAll(
        'veth0',
        'nosuchdev0',
      ),
    );
    expect(spawnSync('ip', ['netns', 'exec', net.ns.prod, 'keepalived', '-t', '-f', bad]).status).not.toBe(0);
  });

  it('refuses to render with a value missing', () => {
    const vars: Record<string, string | number> = keepalivedVars('prod', {
      nodeFile: '/x.yaml',
      stateDir: dir,
      advertInt: 1,
    });
    delete vars.VIP;
    expect(() => renderKeepalived(vars)).toThrow(/no value for \{\{VIP\}\}/);
  });
});

// One of the role-*.test.ts files, split by scenario so that two workers share the long role scenarios.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { git, writeDomain, writeFile, writeUser, usePairs, cliOk } from '../helpers/fixture.js';
import { remoteFile } from '../helpers/remote.js';

const pair = usePairs();
const ok = cliOk;

describe('gitfailover run: one process per node, switching role in place', () => {
  it('promote with the process running: it records and pushes, /readyz, /metrics and the page say primary; demote: it syncs again; same listener, no restart', async () => {
    const { startCli } = await import('../helpers/fixture.js');
    const p = await pair({
      standby: {
        sync: { automatic: true, interval: '300ms' },
        notify: { listen: '127.0.0.1:0' },
        record: { debounce: '100ms' },
      },
    });
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    const agent = await startCli(['run', '-c', p.standby], /full sync/);
    const address = /standby ready on (\S+):/.exec(agent.output())![1]!;
    const get = async (path: string) => {
      const r = await fetch(`http://${address}${path}`);
      return { status: r.status, text: await r.text() };
    };
    const readyz = async () => {
      const r = await get('/readyz');
      return { status: r.status, ...(JSON.parse(r.text) as { ready: boolean; reason: string }) };
    };
    const until = async (what: string, cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 300; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what} did not happen within 30s:\n${agent.output()}`);
    };
    const role = async () => JSON.parse((await get('/ui.json')).text).snapshot.role as string;
    try {
      await until('the failover ready to take over', async () => (await readyz()).status === 200);
      expect((await readyz()).reason).toMatch(/could take over/);
      expect((await get('/metrics')).text).toMatch(/gitfailover_info\{node="failover-1",role="standby"\} 1/);

      // Production is gone; the failover takes over while its process keeps running.
      await ok(['promote', '-c', p.standby]);
      await until('the switch to primary', () => /serving as primary on /.test(agent.output()));
      expect(agent.output()).toContain(`serving as primary on ${address}`);
      await until('/readyz of the primary', async () => /recording and pushing/.test((await readyz()).reason));
      expect((await readyz()).status).toBe(200);
      expect(await role()).toBe('primary');
      expect((await get('/metrics')).text).toMatch(/gitfailover_info\{node="failover-1",role="primary"\} 1/);
      expect((await get('/metrics')).text).toMatch(/^gitfailover_ready 1$/m);

      // A live edit on the failover is recorded by this same process, in production's terms, and pushed.
      writeDomain(p.failLive, 'beta', { services: [{ name: 'ftps', protocol: 'ftps', ip: '10.1.0.5', port: 990 }] });
      let beta = '';
      await until('the failover to record beta', async () => {
        beta = await remoteFile(p, 'domains/beta/services.yaml').catch(() => '');
        return beta !== '';
      });
      expect(beta).toContain('ip: 10.0.0.5');

      // Failback: production takes the role back; the running failover follows the demote and syncs production's commits.
      await ok(['demote', '-c', p.primary]);
      await ok(['promote', '-c', p.primary]);
      await ok(['demote', '-c', p.standby]);
      await until('the switch back to standby', () => /demoted .*syncing again/.test(agent.output()));
      expect(await role()).toBe('standby');
      writeUser(p.prodLive, 'beta', 'erin');
      await ok(['record', '-c', p.primary]);
      await until('erin synced by the running failover', () =>
        existsSync(join(p.failLive, 'domains/beta/users/erin.yaml')),
      );
      await until('the failover ready as a standby', async () => /could take over/.test((await readyz()).reason));
      expect((await readyz()).status).toBe(200);
      expect((await get('/metrics')).text).toMatch(/gitfailover_info\{node="failover-1",role="standby"\} 1/);
      // The standby records nothing: the remote's last commit is production's.
      expect(await git(['--git-dir', p.remote, 'log', '-1', '--format=%s', 'main'])).toMatch(/add user erin/);
      // One process, one listener, from start to end.
      expect(agent.child.exitCode).toBeNull();
      expect(agent.output()).not.toMatch(/EADDRINUSE|cannot listen/);
      expect(agent.output().match(/standby ready on /g)).toHaveLength(1);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((r) => agent.child.once('exit', r));
    }
  }, 240_000);

  it('a promoted node that cannot record answers 503 with the reason and never syncs over its live dir; SIGHUP with a fixed file starts the recorder', async () => {
    const { startCli } = await import('../helpers/fixture.js');
    // notify.standbys without notify.secret: a standby runs with it, a primary refuses to (unsigned notifies).
    const p = await pair({
      standby: {
        sync: { automatic: true, interval: '300ms' },
        notify: { listen: '127.0.0.1:0', standbys: ['http://127.0.0.1:9/notify'] },
        record: { debounce: '100ms' },
      },
    });
    writeDomain(p.prodLive, 'acme', { services: [{ name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22 }] });
    await ok(['record', '-c', p.primary]);
    const agent = await startCli(['run', '-c', p.standby], /full sync/);
    const address = /standby ready on (\S+):/.exec(agent.output())![1]!;
    const readyz = async () => {
      const r = await fetch(`http://${address}/readyz`);
      return { status: r.status, ...((await r.json()) as { reason: string }) };
    };
    const until = async (what: string, cond: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 300; i++) {
        if (await cond()) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`${what} did not happen within 30s:\n${agent.output()}`);
    };
    try {
      await ok(['promote', '-c', p.standby]);
      await until('the refusal to record', () => /promoted, but cannot record: .*notify\.secret/.test(agent.output()));
      const z = await readyz();
      expect(z.status).toBe(503);
      expect(z.reason).toMatch(/^role: promoted, but cannot record: .*notify\.secret/);
      // No sync runs while it is promoted, though it cannot record: its live dir is the primary's.
      await new Promise((r) => setTimeout(r, 1_000)); // three sync intervals
      const afterSwitch = agent.output().slice(agent.output().indexOf('switching to primary behaviour'));
      expect(afterSwitch).not.toMatch(/ sync |sync error/);

      // The fixed node file, reloaded in place: the recorder starts, on the same listener.
      writeFile(
        p.standby,
        stringify({
          ...(parse(readFileSync(p.standby, 'utf8')) as Record<string, unknown>),
          notify: { listen: '127.0.0.1:0' },
        }),
      );
      agent.child.kill('SIGHUP');
      await until('the recorder', () => /serving as primary on /.test(agent.output()));
      expect(agent.output()).toContain(`serving as primary on ${address}`);
      await until('/readyz of the primary', async () => (await readyz()).status === 200);
    } finally {
      agent.child.kill('SIGTERM');
      await new Promise((r) => agent.child.once('exit', r));
    }
  }, 240_000);
});

import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { cli, git, startCli, usePairs, writeDomain, writeFile, writeUser } from '../helpers/fixture.js';

/** The examples of issue 17's "Why", from the user's side (CLI, real repos). */
const pair = usePairs();
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const editNode = (file: string, change: (d: any) => void) => {
  const d = parse(readFileSync(file, 'utf8'));
  change(d);
  writeFileSync(file, stringify(d));
};
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n';

describe('a refused record is reported and leaves nothing staged', () => {
  it('a private key: exit 1, "recording blocked" in status until fixed; once keys/** is excluded nothing of it is recorded', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme');
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    writeFile(join(p.prodLive, 'domains/acme/keys/host_key'), KEY);
    writeFile(join(p.prodLive, 'domains/acme/keys/host_key.pub'), 'ssh-ed25519 AAAA host\n');
    const r = await cli(['record', '-c', p.primary]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('domains/acme/keys/host_key');
    expect(r.stderr).toContain('[E_SECRET_IN_FILE]');
    const status = await cli(['status', '-c', p.primary]);
    expect(status.stdout).toMatch(/recording blocked: domains\/acme\/keys\/host_key: .*private key/);
    const json = JSON.parse((await cli(['status', '-c', p.primary, '--json'])).stdout);
    expect(json.recordBlocked).toMatch(/^recording blocked: domains\/acme\/keys\/host_key/);

    // The operator excludes the folder: the next record takes nothing of it (the refused attempt staged nothing).
    const node = readFileSync(p.primary, 'utf8').replace(/live:\n/, 'live:\n  exclude: ["**/keys/**"]\n');
    writeFileSync(p.primary, node);
    writeDomain(p.prodLive, 'globex');
    const ok = await cli(['record', '-c', p.primary]);
    expect(ok.code, ok.stderr).toBe(0);
    const files = (await git(['ls-tree', '-r', '--name-only', 'main'], p.remote)).split('\n');
    expect(files).toContain('domains/globex/domain.yaml');
    expect(files.filter((f) => f.includes('keys/'))).toEqual([]);
    expect((await cli(['status', '-c', p.primary])).stdout).not.toContain('recording blocked');
  });

  it('the primary daemon: record.failed fires with the problem list, /readyz answers 503 "recording blocked", the next change after the fix is recorded', async () => {
    const p = await pair();
    const events = join(p.dir, 'events.log');
    editNode(p.primary, (d) => {
      d.notify = { listen: '127.0.0.1:0' };
      d.triggers = [
        {
          on: 'record.failed',
          exec: ['/bin/sh', '-c', `printf '%s\\n' "$GITFAILOVER_ERROR_FILE|$GITFAILOVER_PROBLEMS_TEXT" >> ${events}`],
        },
      ];
    });
    writeDomain(p.prodLive, 'acme', { users: ['alice'] });
    const primary = await startCli(['primary', '-c', p.primary], /listening on (\S+):/);
    children.push(primary.child);
    const base = `http://${/listening on (\S+):/.exec(primary.output())![1]!}`;
    const head = await until('the first record on the remote', () =>
      git(['rev-parse', 'main'], p.remote).catch(() => undefined),
    );

    writeFile(join(p.prodLive, 'domains/acme/keys/host_key'), KEY);
    const blocked = await until('/readyz 503', async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 503 ? r.text() : undefined;
    });
    expect(blocked).toMatch(/recording blocked: domains\/acme\/keys\/host_key/);
    // The status page says the same.
    expect(await (await fetch(`${base}/`)).text()).toMatch(/recording blocked: domains\/acme\/keys\/host_key/);
    const fired = await until('the record.failed event', async () => {
      const t = existsSync(events) ? readFileSync(events, 'utf8') : '';
      return t.includes('E_SECRET_IN_FILE') ? t : undefined;
    });
    expect(fired).toMatch(/^domains\/acme\/keys\/host_key\|/);
    expect(await git(['rev-parse', 'main'], p.remote), 'nothing pushed').toBe(head);

    // The key goes; the next change is recorded and the primary is ready again.
    rmSync(join(p.prodLive, 'domains/acme/keys'), { recursive: true });
    writeUser(p.prodLive, 'acme', 'bob');
    const files = await until('bob on the remote', async () => {
      const list = (await git(['ls-tree', '-r', '--name-only', 'main'], p.remote)).split('\n');
      return list.includes('domains/acme/users/bob.yaml') ? list : undefined;
    });
    await until('/readyz 200 again', async () => ((await fetch(`${base}/readyz`)).status === 200 ? true : undefined));
    expect(files.filter((f) => f.includes('keys/'))).toEqual([]);
  }, 90_000);

  it('a file named with escape sequences is refused by record, and validate prints its name escaped', async () => {
    const p = await pair();
    writeDomain(p.prodLive, 'acme');
    const name = 'x\u001b[2J\u001b[31mOWNED\u001b[0m\n.conf';
    writeFile(join(p.prodLive, 'domains/acme', name), 'x\n');
    const r = await cli(['record', '-c', p.primary]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('[E_UNSAFE_PATH]');
    expect(r.stderr).not.toContain('\u001b');
    const v = await cli(['validate', p.prodLive]);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain('x\\x1b[2J');
    expect(v.stdout).not.toContain('\u001b');
  });
});

describe("substitution never passes production's address silently", () => {
  const services = (ip: string) => ({ services: [{ name: 'sftp', protocol: 'sftp', ip, port: 22 }] });
  /** A substitution.unmapped trigger on the standby appending what `printf` prints to a file; returns the file. */
  const onUnmapped = (p: { dir: string; standby: string }, printf: string): string => {
    const events = join(p.dir, 'unmapped.log');
    editNode(p.standby, (d) => {
      d.triggers = [{ on: 'substitution.unmapped', exec: ['/bin/sh', '-c', `${printf} >> ${events}`] }];
    });
    return events;
  };

  it('many unmapped services in one sync fire one substitution.unmapped event that lists them all', async () => {
    const p = await pair();
    const events = onUnmapped(
      p,
      `printf '%s\\n%s\\n--\\n' "$GITFAILOVER_UNMAPPED_COUNT $GITFAILOVER_DOMAIN $GITFAILOVER_SERVICE" "$GITFAILOVER_UNMAPPED"`,
    );
    writeDomain(p.prodLive, 'acme', services('10.0.0.5'));
    writeDomain(p.prodLive, 'newco', services('10.0.0.6'));
    writeDomain(p.prodLive, 'zeta', {
      services: [
        { name: 'ftp', protocol: 'ftp', ip: '10.0.0.7', port: 21 },
        { name: 'sftp', protocol: 'sftp', ip: '10.0.0.8', port: 22 },
      ],
    });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const s = await cli(['sync', '-c', p.standby]);
    expect(s.code, s.stderr).toBe(0);
    expect(readFileSync(events, 'utf8')).toBe(
      '3 newco sftp\nnewco sftp 10.0.0.6:22\nzeta ftp 10.0.0.7:21\nzeta sftp 10.0.0.8:22\n--\n',
    );
  });

  it('an unmapped service IP: the sync warns, ready fails naming it; substitution.keep accepts it; substitution.strict refuses it', async () => {
    const p = await pair();
    const events = onUnmapped(
      p,
      `printf '%s\\n' "$GITFAILOVER_DOMAIN $GITFAILOVER_SERVICE $GITFAILOVER_IP $GITFAILOVER_PORT"`,
    );
    writeDomain(p.prodLive, 'acme', services('10.0.0.5'));
    // newco's first service is mapped, its second is not: the event names the second.
    writeDomain(p.prodLive, 'newco', {
      services: [
        { name: 'ftp', protocol: 'ftp', ip: '10.0.0.5', port: 21 },
        { name: 'sftp', protocol: 'sftp', ip: '10.0.0.6', port: 22 },
      ],
    });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const s = await cli(['sync', '-c', p.standby]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/domain newco: service sftp, 10\.0\.0\.6:22 is not in substitution\.ips/);
    expect(readFileSync(events, 'utf8')).toBe('newco sftp 10.0.0.6 22\n');
    const ready = await cli(['ready', '-c', p.standby, '--json']);
    expect(ready.code).toBe(1);
    const check = JSON.parse(ready.stdout).checks.find((c: { name: string }) => c.name === 'substitution');
    expect(check.status).toBe('fail');
    expect(check.detail).toMatch(/production's address: newco 10\.0\.0\.6:22/);

    // A partial sync that does not touch newco: ready still fails on it (the stored bindings say so).
    writeDomain(p.prodLive, 'acme', { ...services('10.0.0.5'), users: ['alice'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const partial = await cli(['sync', '-c', p.standby]);
    expect(partial.stdout, partial.stderr).toMatch(/^partial sync /);
    expect(partial.stderr).not.toContain('newco');
    const still = await cli(['ready', '-c', p.standby, '--json']);
    expect(still.code).toBe(1);
    expect(JSON.parse(still.stdout).checks.find((c: { name: string }) => c.name === 'substitution').detail).toMatch(
      /production's address: newco 10\.0\.0\.6:22/,
    );
    expect((await cli(['status', '-c', p.standby])).stdout).toMatch(
      /ready: +no \(substitution: .*newco 10\.0\.0\.6:22/,
    );
    // doctor says it in the same words, naming domain, service and IP, and the fix.
    const doctor = await cli(['doctor', '-c', p.standby]);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(
      /^FAIL {2}substitution: 1 service IP\(s\) at \w+: the failover would listen on production's address: domain newco, service sftp, IP 10\.0\.0\.6 /m,
    );
    expect(doctor.stdout).toMatch(/fix: map each under substitution\.ips .*or list it under substitution\.keep/);
    // A full sync takes newco's services.yaml from the known-good list (checked-blobs), not a
    // second check: the service name comes from there.
    expect(readFileSync(join(p.dir, 'fail-state/checked-blobs'), 'utf8')).toContain(
      'domains/newco/services.yaml\t10.0.0.5|21|ftp,10.0.0.6|22|sftp',
    );
    expect((await cli(['sync', '-c', p.standby, '--full'])).code).toBe(0);
    expect(readFileSync(events, 'utf8')).toBe('newco sftp 10.0.0.6 22\nnewco sftp 10.0.0.6 22\n');

    // The standby daemon's /readyz says the same: 503, naming the address.
    editNode(p.standby, (d) => (d.notify = { listen: '127.0.0.1:0' }));
    const daemon = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/);
    children.push(daemon.child);
    const base = `http://${/standby ready on (\S+):/.exec(daemon.output())![1]!}`;
    // (polled: a daemon just started may first answer that it has not fetched yet)
    const notReady = await until('/readyz to name the address', async () => {
      const r = await fetch(`${base}/readyz`);
      const body = (await r.json()) as { reason: string };
      return /production's address/.test(body.reason) ? { status: r.status, reason: body.reason } : undefined;
    });
    expect(notReady.status).toBe(503);
    expect(notReady.reason).toMatch(/production's address: newco 10\.0\.0\.6:22/);

    // substitution.keep lists it: the daemon (reloaded), ready and the next sync accept it.
    editNode(p.standby, (d) => (d.substitution.keep = ['10.0.0.6']));
    daemon.child.kill('SIGHUP');
    expect((await cli(['sync', '-c', p.standby, '--full'])).code).toBe(0);
    await until('/readyz 200 once the address is kept', async () =>
      (await fetch(`${base}/readyz`)).status === 200 ? true : undefined,
    );
    expect(readFileSync(events, 'utf8').split('\n')).toHaveLength(3); // no event for a kept address
    const kept = JSON.parse((await cli(['ready', '-c', p.standby, '--json'])).stdout).checks.find(
      (c: { name: string }) => c.name === 'substitution',
    );
    expect(kept.status).toBe('ok');

    editNode(p.standby, (d) => {
      delete d.substitution.keep;
      d.substitution.strict = true;
    });
    const before = execFileSync('find', [p.failLive, '-type', 'f']).toString();
    writeDomain(p.prodLive, 'newco', { ...services('10.0.0.6'), users: ['bob'] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    const refused = await cli(['sync', '-c', p.standby]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/10\.0\.0\.6:22 is not in substitution\.ips/);
    expect(execFileSync('find', [p.failLive, '-type', 'f']).toString()).toBe(before);
    rmSync(join(p.prodLive, 'domains/newco'), { recursive: true });
  }, 180_000);
});

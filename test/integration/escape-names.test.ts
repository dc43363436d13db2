import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, git, startCli, usePairs, writeDomain, writeFile } from '../helpers/fixture.js';

/** Issue 17: a name from the repo or the live dir never reaches a terminal or the page with its control characters raw. */
const pair = usePairs();
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

const NAME = 'x\u001b[2J\nY';
const SHOWN = 'x\\x1b[2J\\nY';
const ESC = '\u001b';

describe('names with control characters are printed escaped', () => {
  it('status, log, validate, doctor and the status page', async () => {
    const p = await pair({ standby: { notify: { listen: '127.0.0.1:0' } } });
    // A service name with an escape sequence and a newline (YAML can hold both), on an address the standby does not map.
    writeDomain(p.prodLive, 'acme', { services: [{ name: NAME, protocol: 'sftp', ip: '10.0.0.9', port: 22 }] });
    expect((await cli(['record', '-c', p.primary])).code).toBe(0);
    // A commit made outside gitfailover (as a forge's merge is): git lets its author and subject hold ESC.
    const hand = join(p.dir, 'hand');
    await git(['clone', '-q', p.remote, hand]);
    writeFile(join(hand, 'motd.txt'), 'welcome\n');
    await git(['add', 'motd.txt'], hand);
    await git(['commit', '-q', `--author=Eve${ESC}[2J <eve@example.com>`, '-m', `edit${ESC}[31m red`], hand);
    await git(['push', '-q', 'origin', 'HEAD:main'], hand);
    const synced = await cli(['sync', '-c', p.standby]);
    expect(synced.code, synced.stderr).toBe(0);

    const noRaw = (what: string, text: string) => expect(text.includes(ESC), `${what}: ${text}`).toBe(false);

    // status: a file someone left in the live dir, named with ESC and a newline.
    writeFile(join(p.failLive, 'domains/acme', `e${NAME}.conf`), 'x\n');
    const status = await cli(['status', '-c', p.standby]);
    expect(status.stdout).toContain(`  extra    domains/acme/e${SHOWN}.conf\n`);
    noRaw('status', status.stdout);

    const log = await cli(['log', '-c', p.standby]);
    expect(log.code, log.stderr).toBe(0);
    expect(log.stdout).toContain('edit\\x1b[31m red');
    expect(log.stdout).toContain('Eve\\x1b[2J');
    noRaw('log', log.stdout);

    const validate = await cli(['validate', '--node', p.standby, p.prodLive]);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toContain(`of service ${SHOWN} is not in substitution.ips`);
    noRaw('validate', validate.stdout);

    // doctor: the unmapped address, in the words, naming domain, service and IP, with the fix.
    const doctor = await cli(['doctor', '-c', p.standby]);
    expect(doctor.code).toBe(1);
    const line = doctor.stdout.split('\n').find((l) => l.startsWith('FAIL  substitution: '));
    expect(line, doctor.stdout).toContain("the failover would listen on production's address");
    expect(line).toContain(`domain acme, service ${SHOWN}, IP 10.0.0.9`);
    expect(doctor.stdout).toMatch(/\n {6}fix: map each under substitution\.ips .*list it under substitution\.keep/);
    noRaw('doctor', doctor.stdout);

    // The status page the standby daemon serves: the audit shows the hand commit's subject and author escaped.
    const standby = await startCli(['standby', '-c', p.standby], /standby ready on (\S+):/);
    children.push(standby.child);
    const base = `http://${/standby ready on (\S+):/.exec(standby.output())![1]!}`;
    const html = await (await fetch(`${base}/`)).text();
    expect(html).toContain('edit\\x1b[31m red');
    expect(html).toContain('Eve\\x1b[2J');
    noRaw('page', html);
  }, 60_000);
});

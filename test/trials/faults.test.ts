import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  cli,
  initRemote,
  makePair,
  removeDir,
  startCli,
  writeUser,
  writeDomain,
  type Pair,
} from '../helpers/fixture.js';
import { report, sleep, trials } from './trials.js';

/**
 * Family 3: faults around the daemons rather than inside them. Each cycle provokes the fault for
 * real, checks that the daemons keep running and report it, removes the fault and checks that
 * they recover on their own. Counts: cycles tried and cycles in which all of that held.
 */
const CYCLES = trials(1, 5);
const children: ChildProcess[] = [];
const pairs: Pair[] = [];
const mounts: string[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const m of mounts.splice(0)) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      /* already gone */
    }
  }
  for (const p of pairs.splice(0)) {
    try {
      removeDir(p.dir);
    } catch {
      /* a killed daemon's last git child may still be writing: leave the temp dir */
    }
  }
});

function edit(file: string, change: (doc: Record<string, any>) => void): void {
  const doc = parse(readFileSync(file, 'utf8')) as Record<string, any>;
  change(doc);
  writeFileSync(file, stringify(doc));
}

async function until(check: () => boolean, ms = 30_000): Promise<boolean> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) return false;
    await sleep(50);
  }
  return true;
}

const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;

async function standbyPair(extra: Record<string, unknown> = {}): Promise<Pair> {
  const p = makePair({
    standby: {
      sync: { automatic: true, interval: '200ms', disableOnFailure: false, timeout: '5s' },
      notify: { listen: '127.0.0.1:0' },
      ...extra,
    },
  });
  pairs.push(p);
  await initRemote(p);
  writeDomain(p.prodLive, 'acme', { users: ['alice'] });
  expect((await cli(['record', '-c', p.primary])).code).toBe(0);
  return p;
}

async function daemon(args: string[], ready: RegExp): Promise<{ child: ChildProcess; output: () => string }> {
  const d = await startCli(args, ready);
  children.push(d.child);
  return d;
}

describe('trials: faults the daemons must ride out', () => {
  it(`remote unreachable for a while (${CYCLES} outages): both daemons keep running, report, recover`, async () => {
    const p = await standbyPair();
    edit(p.primary, (d) => (d.record = { ...d.record, retry: '200ms', retryMax: '500ms' }));
    const standby = await daemon(['standby', '-c', p.standby], /standby ready on/);
    const primary = await daemon(['primary', '-c', p.primary], /ready: watching/);
    await until(() => existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')));
    let held = 0;
    for (let i = 0; i < CYCLES; i++) {
      const seen = { s: standby.output().length, p: primary.output().length };
      renameSync(p.remote, `${p.remote}.away`); // the remote is gone: fetch and push fail
      writeUser(p.prodLive, 'acme', `offline${i}`);
      // Down until both daemons said so (the primary first records the change, then fails to push).
      const reported = await until(
        () =>
          /cannot fetch|fail/i.test(standby.output().slice(seen.s)) &&
          /push|fail|cannot/i.test(primary.output().slice(seen.p)),
        20_000,
      );
      const running = alive(standby.child) && alive(primary.child);
      renameSync(`${p.remote}.away`, p.remote);
      const recovered = await until(() => existsSync(join(p.failLive, `domains/acme/users/offline${i}.yaml`)));
      if (reported && running && recovered && alive(standby.child) && alive(primary.child)) held++;
      else
        console.log(
          `outage ${i}: reported=${reported} running=${running} recovered=${recovered}\n--- standby:\n${standby.output().slice(seen.s)}\n--- primary:\n${primary.output().slice(seen.p)}`,
        );
    }
    report({
      family: 'remote unreachable',
      tried: CYCLES,
      held,
      detail:
        'the remote renamed away while a change is made on the primary, until both daemons logged the failure; both daemons running, errors logged, the change on the standby after the remote returns',
    });
    expect(held).toBe(CYCLES);
  }, 600_000);

  it(`disk full on the standby's state dir (${CYCLES} times): keeps running, reports, recovers`, async () => {
    const p = await standbyPair();
    const stateDir = join(p.dir, 'fail-state');
    mkdirSync(stateDir, { recursive: true });
    let how = 'a 4 MB tmpfs mounted on the state dir';
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', stateDir]);
      mounts.push(stateDir);
    } catch {
      how = 'SKIPPED: mount -t tmpfs is not permitted here';
    }
    const standby = await daemon(['standby', '-c', p.standby], /standby ready on/);
    await until(() => existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')));
    let held = 0;
    for (let i = 0; i < CYCLES && mounts.length > 0; i++) {
      const seen = standby.output().length;
      const filler = join(stateDir, 'filler');
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
      } catch {
        /* dd stops at ENOSPC: the disk is full */
      }
      const stateBefore = readFileSync(join(stateDir, 'state.json'), 'utf8');
      writeUser(p.prodLive, 'acme', `full${i}`, { note: 'x'.repeat(200_000) });
      await cli(['record', '-c', p.primary]);
      await sleep(1500);
      const reported = /No space left|ENOSPC|sync failed/i.test(standby.output().slice(seen));
      const notApplied = !existsSync(join(p.failLive, `domains/acme/users/full${i}.yaml`));
      // state.json is written whole or not at all: still the last good state, still valid JSON.
      const stateIntact = (() => {
        try {
          JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8'));
          return true;
        } catch {
          return false;
        }
      })();
      const running = alive(standby.child);
      rmSync(filler, { force: true });
      const recovered = await until(() => existsSync(join(p.failLive, `domains/acme/users/full${i}.yaml`)));
      if (reported && notApplied && stateIntact && running && recovered && alive(standby.child)) held++;
      else
        console.log(
          `disk-full cycle ${i}: reported=${reported} notApplied=${notApplied} stateIntact=${stateIntact} running=${running} recovered=${recovered} stateBefore=${stateBefore.length}`,
        );
    }
    report({
      family: 'disk full on the state dir',
      tried: mounts.length > 0 ? CYCLES : 0,
      held,
      detail: `${how}; filled with dd until ENOSPC while a 200 KB change arrives, then the filler removed`,
    });
    if (mounts.length > 0) expect(held).toBe(CYCLES);
  }, 600_000);

  it(`a load command that hangs past its timeout (${CYCLES} times): killed, reported, recovered`, async () => {
    const flag = join(pairsDirHint(), 'hang');
    const marker = `${600 + Math.floor(Math.random() * 1000)}.4242`;
    const p = await standbyPair({
      commands: { load: ['/bin/sh', '-c', `if [ -e "$0" ]; then exec sleep ${marker}; fi`, flag], timeout: '1s' },
    });
    const standby = await daemon(['standby', '-c', p.standby], /standby ready on/);
    await until(() => existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')));
    let held = 0;
    for (let i = 0; i < CYCLES; i++) {
      const seen = standby.output().length;
      writeFileSync(flag, '');
      writeUser(p.prodLive, 'acme', `hang${i}`);
      await cli(['record', '-c', p.primary]);
      const reported = await until(() => /did not finish within|timed out/i.test(standby.output().slice(seen)), 20_000);
      // Each retry swaps the domain in and out again, so the live dir flaps; the state must not move.
      const status = JSON.parse((await cli(['status', '-c', p.standby, '--json'])).stdout) as {
        behind: number;
        lastSync?: { success: boolean };
      };
      const rolledBack = status.behind > 0 && status.lastSync?.success === false;
      const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(marker) && !l.includes('/bin/sh'));
      rmSync(flag, { force: true });
      const recovered = await until(() => existsSync(join(p.failLive, `domains/acme/users/hang${i}.yaml`)));
      if (reported && rolledBack && leftovers.length <= 1 && recovered && alive(standby.child)) held++;
      else
        console.log(
          `hang cycle ${i}: reported=${reported} rolledBack=${rolledBack} leftovers=${leftovers.length} recovered=${recovered}`,
        );
    }
    report({
      family: 'command hangs past its timeout',
      tried: CYCLES,
      held,
      detail:
        'commands.load sleeps while a flag file exists, commands.timeout 1s: the sync fails and rolls back, the command is killed, the next sync after the flag is gone applies',
    });
    expect(held).toBe(CYCLES);

    function pairsDirHint(): string {
      const d = join(process.env.TMPDIR ?? '/tmp', `gf-hang-${process.pid}`);
      mkdirSync(d, { recursive: true });
      return d;
    }
  }, 600_000);

  it(`the SMTP server down (${CYCLES} times): syncs go on, the failure is reported, mail flows once it is back`, async () => {
    const port = await freePort();
    const mails: string[] = [];
    const p = await standbyPair({
      triggers: [
        {
          on: 'sync',
          if: 'success == true',
          retries: 0,
          email: { to: 'ops@example.com', smtp: { host: '127.0.0.1', port, starttls: false, timeout: '2s' } },
        },
      ],
    });
    const standby = await daemon(['standby', '-c', p.standby], /standby ready on/);
    await until(() => existsSync(join(p.failLive, 'domains/acme/users/alice.yaml')));
    let held = 0;
    for (let i = 0; i < CYCLES; i++) {
      const seen = standby.output().length;
      writeUser(p.prodLive, 'acme', `nosmtp${i}`);
      await cli(['record', '-c', p.primary]);
      const synced = await until(() => existsSync(join(p.failLive, `domains/acme/users/nosmtp${i}.yaml`)));
      const reported = await until(() => /email|smtp|ECONNREFUSED/i.test(standby.output().slice(seen)), 15_000);
      const server = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        logger: false,
        onData: (stream, _s, cb) => {
          let text = '';
          stream.on('data', (c: Buffer) => (text += c.toString()));
          stream.on('end', () => {
            mails.push(text);
            cb();
          });
        },
      });
      await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
      const before = mails.length;
      writeUser(p.prodLive, 'acme', `smtpback${i}`);
      await cli(['record', '-c', p.primary]);
      const mailed = await until(() => mails.length > before, 20_000);
      await new Promise<void>((r) => server.close(() => r()));
      if (synced && reported && mailed && alive(standby.child)) held++;
      else console.log(`smtp cycle ${i}: synced=${synced} reported=${reported} mailed=${mailed}`);
    }
    report({
      family: 'SMTP server down',
      tried: CYCLES,
      held,
      detail:
        'an e-mail trigger on every successful sync, its SMTP port closed: the sync applies, the delivery failure is logged, mail is delivered once a server listens again',
    });
    expect(held).toBe(CYCLES);
  }, 600_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

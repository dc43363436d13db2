import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  clientLogin,
  killNode,
  lastAnnounced,
  makeVipPair,
  type Node,
  removeVipPair,
  type VipPair,
  restartNode,
  roleOf,
  startKeepalived,
  vrrpLog,
  waitFor,
} from '../test/helpers/vip-pair.js';
import { fmtMs, summarize, table } from './stats.js';

/**
 * `npm run bench -- --only=takeover`: production's death to the first successful client login on
 * the virtual address, over `kills` kills. The pair of test/e2e/keepalived.test.ts (network
 * namespaces, ProFTPD, gitfailover, keepalived); the node holding the address is killed (every
 * process SIGKILLed, link down), the client logs in on the address until it succeeds, then the
 * dead node comes back (it rejoins as a standby) and the roles have swapped for the next kill.
 * Needs root, keepalived, ProFTPD and curl.
 */

export const TAKEOVER_START = '<!-- bench:takeover:start -->';
export const TAKEOVER_END = '<!-- bench:takeover:end -->';

export async function takeover(opts: { kills: number; advertInt: number; log: (s: string) => void }): Promise<string> {
  const { log } = opts;
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const p = await makeVipPair({ advertInt: opts.advertInt });
  const total: number[] = [];
  const toPromoted: number[] = [];
  let step = 'starting the pair';
  try {
    step = 'production elected';
    await startKeepalived(p, 'prod');
    await waitFor('production elected', () => roleOf(p, 'prod') === 'primary', 300_000);
    await startKeepalived(p, 'fail');
    let master: Node = 'prod';
    for (let i = 1; i <= opts.kills; i++) {
      const standby: Node = master === 'prod' ? 'fail' : 'prod';
      step = `kill ${i}/${opts.kills} (${master} holds the address)`;
      // The standby is a ready BACKUP: keepalived ran its backup hook after the track file said yes.
      await waitFor(`${standby} a ready BACKUP`, () => lastAnnounced(p, standby) === 'backup', 300_000);
      const promotedBefore = vrrpLog(p, standby).filter((l) => l.action === 'promoted').length;
      const wall0 = Date.now();
      const t0 = performance.now();
      killNode(p, master);
      await waitFor('a login on the virtual address', async () => (await clientLogin(p, 'alice', 1)) === 0, 300_000);
      total.push(performance.now() - t0);
      // The address answers before the hook has logged its outcome: wait for it, else only the fast hooks count.
      const promotedLine = () => vrrpLog(p, standby).filter((l) => l.action === 'promoted')[promotedBefore];
      await waitFor(`${standby}'s vrrp master hook to log promoted`, () => promotedLine() !== undefined, 300_000);
      toPromoted.push(Date.parse(promotedLine()!.time) - wall0);
      log(
        `takeover ${i}/${opts.kills}: ${master} killed -> login on the address in ${fmtMs(total[total.length - 1]!)}`,
      );
      await restartNode(p, master);
      await waitFor(`${master} back as a standby`, () => roleOf(p, master) === 'standby', 300_000);
      master = standby;
    }
  } catch (err) {
    // The pair is removed below: say what each node was doing while its files still exist.
    log(`takeover failed at ${step}: ${err instanceof Error ? err.message : String(err)}`);
    for (const n of ['prod', 'fail'] as const) log(diagnose(p, n));
    throw err;
  } finally {
    removeVipPair(p);
  }
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const t = summarize(total);
  const h = summarize(toPromoted);
  return `## Takeover with keepalived (\`--only=takeover\`)

- date: ${new Date().toISOString()}; ${machine()}; load average ${load0} at start, ${load1} at the end (a shared machine)
- ${opts.kills} kills of the node holding the virtual address (every process SIGKILLed, its link down), the roles swapping each time; VRRPv3 \`advert_int ${opts.advertInt}\` (s), unicast, \`nopreempt\`; readiness by \`track_file\` (written by the daemon every \`sync.interval\`, 2 s here)
- measured from the kill to the first successful FTP login (curl, \`--max-time 1\`, retried at once) on the virtual address from a client namespace; "hook promoted" is when \`gitfailover vrrp master\` logged its outcome (stateDir/vrrp.log)

${table(
  ['from the kill to', 'n', 'median', 'p95', 'max'],
  [
    ['first client login on the virtual address', String(t.n), fmtMs(t.p50), fmtMs(t.p95), fmtMs(t.max)],
    [
      "the new primary's hook done (promoted, pushed, domains started)",
      String(h.n),
      fmtMs(h.p50),
      fmtMs(h.p95),
      fmtMs(h.max),
    ],
  ],
)}`;
}

function machine(): string {
  // keepalived prints its version on stderr.
  const v = spawnSync('keepalived', ['--version'], { encoding: 'utf8' });
  const ka = `${v.stdout ?? ''}${v.stderr ?? ''}`.trim().split('\n')[0] || 'keepalived (version unknown)';
  return `CPU ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB; Node ${process.version}; ${ka}`;
}

/** A node's last hook lines and its readiness answer, for a kill that failed or hung. */
function diagnose(p: VipPair, n: Node): string {
  const tail = (f: string, lines: number) =>
    existsSync(f) ? readFileSync(f, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '(none)';
  return [
    `--- ${n}: last announced ${lastAnnounced(p, n) ?? '(none)'}`,
    `vrrp.log:\n${tail(join(p.state[n], 'vrrp.log'), 8)}`,
    `address-ready.json: ${tail(join(p.state[n], 'address-ready.json'), 5)}`,
  ].join('\n');
}

/** The takeover section has markers of its own in BENCHMARKS.md: it runs alone (root, namespaces) and is kept between full runs. */
export function writeTakeover(file: string, section: string): void {
  const block = `${TAKEOVER_START}\n${section.trim()}\n${TAKEOVER_END}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const s = text.indexOf(TAKEOVER_START);
  const e = text.indexOf(TAKEOVER_END);
  writeFileSync(
    file,
    s >= 0 && e > s
      ? text.slice(0, s) + block + text.slice(e + TAKEOVER_END.length)
      : `${text.trimEnd()}\n\n${block}\n`,
  );
}

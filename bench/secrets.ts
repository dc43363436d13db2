import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { domainName, userName, userYaml } from './gen-repo.js';
import { benchPrimary, benchStandby, BIN, mustRun, repoWithLive, runJson } from './proc.js';
import { fmtMs, fmtRatio, median, pairedRatio, table } from './stats.js';

/**
 * Issue 20's row: a record and a partial sync on a repo with 100 declared secret files against the
 * same repo with none, in the same run, the two interleaved round by round. Each domain of 100
 * has one secret (a host key sized like an RSA one), so the one-user change of each round lands
 * in a domain that has a secret: the standby opens it as part of that domain.
 */
const DOMAINS = 100;

interface Side {
  primary: string;
  standby: string;
  live: string;
}

/** A private key's shape and size (PEM armour around random base64): what the admission rules would refuse undeclared. */
function fakeKey(): string {
  const body = randomBytes(1700).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

async function gitfailover(args: string[]): Promise<string> {
  return (await mustRun(process.execPath, [BIN, ...args])).stdout.trim();
}

async function prepare(dir: string, secrets: boolean): Promise<Side> {
  const { remote, prodLive: live } = await repoWithLive(dir, DOMAINS, 'work');
  if (secrets)
    for (let i = 0; i < DOMAINS; i++) {
      mkdirSync(join(live, 'domains', domainName(i), 'keys'), { recursive: true });
      writeFileSync(join(live, 'domains', domainName(i), 'keys', 'host_key'), fakeKey());
    }
  const primary = benchPrimary(join(dir, 'primary.yaml'), remote, live, join(dir, 'prod-state'), {
    ...(secrets ? { secrets: { files: ['domains/*/keys/**'], identity: `file:${join(dir, 'prod.agekey')}` } } : {}),
  });
  const standby = benchStandby(join(dir, 'standby.yaml'), remote, join(dir, 'fail'), join(dir, 'fail-state'), {
    ...(secrets ? { secrets: { identity: `file:${join(dir, 'fail.agekey')}` } } : {}),
  });
  if (secrets) {
    const prod = await gitfailover(['keygen', '-c', primary]);
    const fail = await gitfailover(['keygen', '-c', standby]);
    await gitfailover(['secrets', 'add-recipient', 'bench-primary', prod, '-c', primary]);
    await gitfailover(['secrets', 'add-recipient', 'bench-standby', fail, '-c', primary]);
  }
  // Untimed: the first record (every secret encrypted once) and the standby's first full sync.
  await gitfailover(['record', '-c', primary, '-m', 'bench start']);
  await runJson('child-sync.js', [standby]);
  return { primary, standby, live };
}

export async function secretsBench(root: string, rounds: number, log: (s: string) => void): Promise<string> {
  const none = await prepare(join(root, 'secrets-none'), false);
  const with100 = await prepare(join(root, 'secrets-100'), true);
  log(`secrets: two repos of ${DOMAINS} domains ready, one with ${DOMAINS} declared secrets`);
  const rec = { none: [] as number[], with100: [] as number[] };
  const sync = { none: [] as number[], with100: [] as number[] };
  for (let r = 1; r <= rounds; r++) {
    for (const [key, side] of [
      ['none', none],
      ['with100', with100],
    ] as const) {
      const d = domainName((r * 37) % DOMAINS);
      const u = userName(1 + (r % 20));
      writeFileSync(join(side.live, 'domains', d, 'users', `${u}.yaml`), userYaml(d, u, 7000 + r));
      const rr = await runJson<{ commit?: string; ms: number }>('child-record.js', [side.primary, '--push']);
      if (!rr.commit) throw new Error(`bench: record on ${side.primary} made no commit`);
      rec[key].push(rr.ms);
      const s = await runJson<{ ms: number; success: boolean; mode: string; error?: string }>('child-sync.js', [
        side.standby,
      ]);
      if (!s.success || s.mode !== 'partial')
        throw new Error(`bench: sync with ${side.standby}: ${s.mode} ${s.success ? 'ok' : s.error}`);
      sync[key].push(s.ms);
    }
  }
  const row = (what: string, a: number[], b: number[]) => [
    what,
    fmtMs(median(a)),
    fmtMs(median(b)),
    fmtRatio(pairedRatio(b, a)),
  ];
  return `## 6. Declared secrets: record and partial sync with ${DOMAINS} secret files against none

Two repos of ${DOMAINS} domains generated alike; in one, each domain also has \`keys/host_key\` (a 2.3 KB PEM-shaped key) declared under \`secrets.files\`, so the repo holds ${DOMAINS} \`.age\` files encrypted to two recipients. Each of ${rounds} rounds changes one user file in both primaries' live dirs (a domain that has a secret), runs \`record()\` with push in a process of its own, then the standby's partial sync in a process of its own; the two repos alternate within the round and the ratio is taken round by round. Times are measured inside each process (Node's start-up excluded).

${table(['one-user change', 'no secrets (median)', `${DOMAINS} secrets (median)`, 'ratio (paired)'], [row('record + push', rec.none, rec.with100), row('partial sync', sync.none, sync.with100)])}`;
}

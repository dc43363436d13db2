import { execFile, execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * A small network of its own for the keepalived suite and the takeover bench: network namespaces
 * for production, failover and a client, each with one veth into a bridge that lives in a fourth
 * namespace, so nothing is added to the machine's own namespace. Addresses are from 192.0.2.0/24
 * (documentation range) and exist only inside the namespaces. Names are unique per run.
 */

export const LAN = {
  prefix: 24,
  prod: '192.0.2.1',
  fail: '192.0.2.2',
  client: '192.0.2.100',
  vip: '192.0.2.10',
} as const;

export type Host = 'prod' | 'fail' | 'client';

export interface Net {
  /** Namespace names: `<id>-br` (the bridge), `<id>-prod`, `<id>-fail`, `<id>-client`. */
  ns: Record<Host | 'br', string>;
  /** The interface inside every host namespace. */
  dev: 'veth0';
}

const HOSTS: Host[] = ['prod', 'fail', 'client'];
const made = new Set<Net>();

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `ip netns add` etc. Throws with ip's own error when the machine cannot do it (no CAP_NET_ADMIN, no veth). */
export function makeNet(): Net {
  const id = `gfk${randomBytes(3).toString('hex')}`;
  const net: Net = {
    ns: { br: `${id}-br`, prod: `${id}-prod`, fail: `${id}-fail`, client: `${id}-client` },
    dev: 'veth0',
  };
  made.add(net);
  try {
    ip(['netns', 'add', net.ns.br]);
    ip(['-n', net.ns.br, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', net.ns.br, 'link', 'set', 'br0', 'up']);
    for (const h of HOSTS) {
      ip(['netns', 'add', net.ns[h]]);
      ip(['link', 'add', 'veth0', 'netns', net.ns[h], 'type', 'veth', 'peer', 'name', `p-${h}`, 'netns', net.ns.br]);
      ip(['-n', net.ns.br, 'link', 'set', `p-${h}`, 'master', 'br0']);
      ip(['-n', net.ns.br, 'link', 'set', `p-${h}`, 'up']);
      ip(['-n', net.ns[h], 'link', 'set', 'lo', 'up']);
      ip(['-n', net.ns[h], 'link', 'set', 'veth0', 'up']);
      ip(['-n', net.ns[h], 'addr', 'add', `${LAN[h]}/${LAN.prefix}`, 'dev', 'veth0']);
      // Services bind the virtual address before keepalived puts it on the interface, as on any VRRP pair.
      execFileSync('ip', ['netns', 'exec', net.ns[h], 'sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1']);
    }
  } catch (err) {
    removeNet(net);
    throw err;
  }
  return net;
}

/** SIGKILL what runs in the namespaces, then delete them (the veths and the bridge go with them). */
export function removeNet(net: Net): void {
  for (const h of [...HOSTS, 'br' as const]) {
    killAll(net, h);
    try {
      ip(['netns', 'del', net.ns[h]]);
    } catch {
      /* not made, or gone */
    }
  }
  made.delete(net);
}

/** Every process inside the namespace (`ip netns pids`), SIGKILLed: a crashed machine. */
export function killAll(net: Net, h: Host | 'br'): number[] {
  let pids: number[] = [];
  try {
    pids = execFileSync('ip', ['netns', 'pids', net.ns[h]], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return pids;
}

// A test that fails mid-way (or a killed vitest worker that still runs its exit handlers) leaves no namespace behind.
process.once('exit', () => {
  for (const net of made) removeNet(net);
});

/** The host's port on the bridge up or down: its link to the others (the partition of a split brain). */
export function setLink(net: Net, h: Host, up: boolean): void {
  ip(['-n', net.ns.br, 'link', 'set', `p-${h}`, up ? 'up' : 'down']);
}

/**
 * The partition of a split brain: production's and the failover's bridge ports isolated from each
 * other (bridge port isolation), so the two nodes no longer hear each other while both keep their
 * link, their carrier and the client. (A port set down would take the carrier of its veth too, and
 * keepalived would go to FAULT rather than believe the peer dead.)
 */
export function splitNodes(net: Net, split: boolean): void {
  for (const h of ['prod', 'fail'] as const)
    ip(['-n', net.ns.br, 'link', 'set', `p-${h}`, 'type', 'bridge_slave', 'isolated', split ? 'on' : 'off']);
}

/** Addresses on the host's veth0 (to see who holds the virtual address). */
export function addresses(net: Net, h: Host): string[] {
  const out = execFileSync('ip', ['-n', net.ns[h], '-4', '-o', 'addr', 'show', 'dev', 'veth0'], { encoding: 'utf8' });
  return [...out.matchAll(/inet (\S+)\//g)].map((m) => m[1]!);
}

export function holdsVip(net: Net, h: Host): boolean {
  return addresses(net, h).includes(LAN.vip);
}

/** A process inside the namespace (`ip netns exec` execs it: the child's pid is the process's own). */
export function spawnIn(net: Net, h: Host, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', net.ns[h], cmd, ...args], opts);
}

export function execIn(
  net: Net,
  h: Host,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'ip',
      ['netns', 'exec', net.ns[h], cmd, ...args],
      { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

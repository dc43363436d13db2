import { createServer } from 'node:net';

/** Listen on `host:port` (0 = any free one); resolves to the port held, or undefined when taken. */
function hold(host: string, port: number): Promise<{ port: number; release: () => Promise<void> } | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, host, () =>
      resolve({
        port: (s.address() as { port: number }).port,
        release: () => new Promise<void>((r) => s.close(() => r())),
      }),
    );
  });
}

/**
 * One ephemeral port free on every host given (the ProFTPD demo needs the same port on the
 * production and the failover address, since substitution maps addresses only), so that a demo
 * never fails on a port something else holds.
 */
export async function freePort(hosts: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await hold(hosts[0]!, 0);
    if (!first) throw new Error(`demo: cannot listen on ${hosts[0]}`);
    const others = await Promise.all(hosts.slice(1).map((h) => hold(h, first.port)));
    await Promise.all([first, ...others].map((h) => h?.release()));
    if (others.every((o) => o !== undefined)) return first.port;
  }
  throw new Error(`demo: found no port free on all of ${hosts.join(', ')}`);
}

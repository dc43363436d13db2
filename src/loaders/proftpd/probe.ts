import { connect, createServer } from 'node:net';
import { spawn } from 'node:child_process';

/**
 * The ProFTPD loader's contacts with the host: bind checks, banners, `proftpd -t`, the pid.
 * Kept apart from the loader so that its decisions read as plain steps.
 */

/** 'free', 'busy' (someone listens there) or 'unavailable' (the address is not on this host). */
export function bindState(ip: string, port: number): Promise<'free' | 'busy' | 'unavailable'> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'EADDRNOTAVAIL' ? 'unavailable' : 'busy'),
    );
    server.listen({ host: ip, port, exclusive: true }, () => server.close(() => resolve('free')));
  });
}

/** Does something at ip:port accept a connection and greet (FTP "220", SSH "SSH-") within `ms`? */
export function answers(ip: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: ip, port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    socket.once('data', (d: Buffer) => done(/^(220|SSH-)/.test(d.toString('latin1'))));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}

/** Poll until every binding greets, or the deadline passes; returns those that never did. */
export async function waitUntilAnswering(
  bindings: readonly { ip: string; port: number }[],
  timeoutMs: number,
  alive: () => boolean,
): Promise<{ ip: string; port: number }[]> {
  const deadline = Date.now() + timeoutMs;
  let pending = [...bindings];
  while (pending.length > 0 && Date.now() < deadline && alive()) {
    const results = await Promise.all(
      pending.map((b) => answers(b.ip, b.port, Math.min(1000, Math.max(50, deadline - Date.now())))),
    );
    pending = pending.filter((_, i) => !results[i]);
    if (pending.length > 0) await new Promise((r) => setTimeout(r, 25));
  }
  return pending;
}

/**
 * `proftpd -t -c FILE`. It exits 0 even when an *included* file is fatal (it only reports the
 * error), so its output is searched for `fatal:` too.
 */
export function checkSyntax(
  binary: string,
  mainConfig: string,
  timeoutMs = 30_000,
): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, ['-t', '-c', mainConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({
        ok: false,
        output: `cannot run ${binary}: ${e.message} (install proftpd-core, or set proftpd.binary)`,
      });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0 && !/\bfatal:/i.test(output), output });
    });
  });
}

/** The lines of `proftpd -t` output that explain a refusal. */
export function fatalLines(output: string): string[] {
  const lines = output.split('\n').map((l) => l.replace(/^.*?proftpd\[\d+\]:\s*/, '').trim());
  const fatal = lines.filter((l) => /\b(fatal|error):/i.test(l));
  return fatal.length > 0 ? fatal : lines.filter((l) => l && !/^Checking syntax/.test(l)).slice(-3);
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { GitfailoverError } from '../errors.js';
import { MAX_BODY_BYTES } from './http-sign.js';

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void | Promise<void>;

/** `host:port` -> parts; `[::1]:7420` for IPv6. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(listen) ?? /^([^:]+):(\d+)$/.exec(listen);
  if (!m)
    throw new GitfailoverError(
      'E_CONFIG',
      `notify.listen ${JSON.stringify(listen)} is not host:port (e.g. 127.0.0.1:7420)`,
      { kind: 'stalling' },
    );
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * The daemon's one listener (loopback by default): notify, health and status routes.
 * Bodies over MAX_BODY_BYTES are refused before they are read into memory.
 */
export function startHttp(
  listen: string,
  routes: Record<string, Handler>,
): Promise<{ server: Server; address: string }> {
  const { host, port } = parseListen(listen);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = routes[`${req.method} ${path}`];
    if (!handler) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' }).end('body too large\n');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.writableEnded) return;
      Promise.resolve(handler(req, Buffer.concat(chunks), res)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`error: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e) =>
      reject(
        new GitfailoverError('E_LISTEN', `cannot listen on ${listen} (notify.listen): ${e.message}`, {
          kind: 'stalling',
        }),
      ),
    );
    server.listen(port, host, () => {
      const a = server.address();
      const address =
        a && typeof a === 'object' ? `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}` : listen;
      resolve({ server, address });
    });
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(value)}\n`);
}

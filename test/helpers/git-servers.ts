import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';

/**
 * Real git servers on loopback for the remote tests: git's own smart-HTTP CGI behind a small
 * HTTP server with basic auth, and OpenSSH's sshd with a throwaway host key and a deploy key.
 */

export interface HttpUser {
  password: string;
  /** Whether this user may push (a read-only token is what a standby should have). */
  write: boolean;
}

export interface SmartHttpServer {
  url: (repoName: string) => string;
  /** Every request: method, path, user (or '-' when refused), HTTP status. */
  requests: { method: string; path: string; user: string; status: number }[];
  close: () => Promise<void>;
}

/** `git http-backend` as a CGI under `projectRoot`, every request authenticated with basic auth. */
export async function startSmartHttp(projectRoot: string, users: Record<string, HttpUser>): Promise<SmartHttpServer> {
  const requests: SmartHttpServer['requests'] = [];
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const user = authenticate(req, users);
    const pushing =
      url.searchParams.get('service') === 'git-receive-pack' || url.pathname.endsWith('/git-receive-pack');
    const refuse = (status: number, text: string) => {
      requests.push({ method: req.method ?? '', path: url.pathname, user: user ?? '-', status });
      req.resume();
      res.writeHead(status, status === 401 ? { 'WWW-Authenticate': 'Basic realm="gitfailover test"' } : {});
      res.end(text);
    };
    if (!user) return refuse(401, 'authentication required\n');
    if (pushing && !users[user]!.write) return refuse(403, 'this token is read-only\n');
    requests.push({ method: req.method ?? '', path: url.pathname, user, status: 200 });
    runCgi(req, res, url, user, projectRoot);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function authenticate(req: IncomingMessage, users: Record<string, HttpUser>): string | undefined {
  const m = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  const name = text.slice(0, colon);
  return colon > 0 && users[name]?.password === text.slice(colon + 1) ? name : undefined;
}

function runCgi(req: IncomingMessage, res: ServerResponse, url: URL, user: string, projectRoot: string): void {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    REMOTE_USER: user, // http-backend enables receive-pack only for an authenticated user
    REMOTE_ADDR: '127.0.0.1',
    REQUEST_METHOD: req.method,
    PATH_INFO: decodeURIComponent(url.pathname),
    QUERY_STRING: url.search.slice(1),
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    GATEWAY_INTERFACE: 'CGI/1.1',
  };
  if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
  if (req.headers['content-encoding']) env.HTTP_CONTENT_ENCODING = String(req.headers['content-encoding']);
  if (req.headers['git-protocol']) env.GIT_PROTOCOL = String(req.headers['git-protocol']);
  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'ignore'] });
  req.pipe(child.stdin);
  child.stdin.on('error', () => {});
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) return void res.write(chunk);
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end < 0) return;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (/^status$/i.test(name)) status = Number(value.split(' ')[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + 4));
  });
  child.on('close', () => {
    if (!headersDone) res.writeHead(500);
    res.end();
  });
}

export interface Sshd {
  port: number;
  user: string;
  /** `ssh://user@127.0.0.1:port/<absolute path>` */
  url: (absPath: string) => string;
  /** The line to put into a known_hosts file for this server. */
  knownHostsLine: string;
  log: () => string;
  close: () => Promise<void>;
}

/** A free port on loopback (sshd takes its port on the command line). */
export async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

export function sshKeygen(file: string, comment = 'gitfailover-test'): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
}

export const SSHD = '/usr/sbin/sshd';

/** sshd on a high loopback port, accepting only `authorizedKeys` (public key lines) for the current user. */
export async function startSshd(dir: string, authorizedKeys: string[]): Promise<Sshd> {
  mkdirSync(dir, { recursive: true });
  mkdirSync('/run/sshd', { recursive: true }); // sshd's privilege separation dir (Debian creates it at boot)
  const hostKey = join(dir, 'host_key');
  sshKeygen(hostKey, 'test-host');
  writeFileSync(join(dir, 'authorized_keys'), `${authorizedKeys.join('\n')}\n`);
  const user = userInfo().username;
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'StrictModes no', // the test's temp dir is not owned the way sshd wants a home to be
      'UsePAM no',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config, '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start within 10s:\n${log}`)), 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (/Server listening on/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('error', (e) =>
      reject(new Error(`cannot start ${SSHD}: ${e.message} (install openssh-server; .ci/run does)`)),
    );
    child.on('exit', (code) => reject(new Error(`sshd exited with ${code}:\n${log}`)));
  });
  const [type, key] = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ');
  return {
    port,
    user,
    url: (absPath) => `ssh://${user}@127.0.0.1:${port}${absPath}`,
    knownHostsLine: `[127.0.0.1]:${port} ${type} ${key}\n`,
    log: () => log,
    close: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

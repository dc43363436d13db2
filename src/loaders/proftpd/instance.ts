import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { renderTemplate } from '../../render/template.js';
import { PROFTPD_TEMPLATE_DIR } from './render.js';

/**
 * A ProFTPD instance of its own (the demo, the end-to-end tests, a first try of the loader):
 * a config dir from templates/proftpd/proftpd.conf, throwaway keys, a foreground daemon.
 * Production set-ups write the main config once by hand and run proftpd under their init system.
 */

const run = promisify(execFile);

export interface ProftpdInstanceFiles {
  configDir: string;
  mainConfig: string;
  pidFile: string;
  logFile: string;
}

/** Write `<configDir>/proftpd.conf` from the shipped template; run files go to `<configDir>/run`. */
export function writeMainConfig(
  configDir: string,
  opts: { serverName: string; user?: string; group?: string },
): ProftpdInstanceFiles {
  const runDir = join(configDir, 'run');
  mkdirSync(runDir, { recursive: true });
  mkdirSync(join(configDir, 'domains.d'), { recursive: true });
  const text = renderTemplate(
    readFileSync(join(PROFTPD_TEMPLATE_DIR, 'proftpd.conf'), 'utf8'),
    { serverName: opts.serverName, user: opts.user ?? 'nobody', group: opts.group ?? 'nogroup', runDir, configDir },
    'templates/proftpd/proftpd.conf',
  );
  const mainConfig = join(configDir, 'proftpd.conf');
  writeFileSync(mainConfig, text);
  return { configDir, mainConfig, pidFile: join(runDir, 'proftpd.pid'), logFile: join(runDir, 'proftpd.log') };
}

/**
 * Throwaway credentials for a test or a demo: an RSA host key for SFTP and a self-signed
 * certificate for FTPS (never for production). mod_sftp refuses a key others can read: 0600.
 */
export async function throwawayKeys(
  dir: string,
  openssl = 'openssl',
): Promise<{ sftpHostKey: string; tlsCertificate: string; tlsKey: string }> {
  mkdirSync(dir, { recursive: true });
  const sftpHostKey = join(dir, 'sftp_host_rsa.pem');
  const tlsKey = join(dir, 'tls.key');
  const tlsCertificate = join(dir, 'tls.crt');
  await run(openssl, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', sftpHostKey]);
  await run(openssl, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    tlsKey,
    '-out',
    tlsCertificate,
    '-days',
    '2',
    '-subj',
    '/CN=gitfailover-test',
  ]);
  chmodSync(sftpHostKey, 0o600);
  chmodSync(tlsKey, 0o600);
  return { sftpHostKey, tlsCertificate, tlsKey };
}

/** A SHA-512 crypt(3) hash (`$6$`), the kind ProFTPD's AuthUserFile accepts. */
export async function cryptPassword(password: string, openssl = 'openssl'): Promise<string> {
  return (await run(openssl, ['passwd', '-6', password])).stdout.trim();
}

/** Start `proftpd -n` (foreground: it stays our child) and resolve once its pid file names it. */
export async function startProftpd(files: ProftpdInstanceFiles, binary = 'proftpd'): Promise<ChildProcess> {
  const child = spawn(binary, ['-n', '-c', files.mainConfig], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
  const until = Date.now() + 10_000;
  while (Date.now() < until) {
    if (child.exitCode !== null)
      throw new Error(`proftpd -c ${files.mainConfig} exited with ${child.exitCode}: ${stderr.trim()}`);
    if (existsSync(files.pidFile) && readFileSync(files.pidFile, 'utf8').trim() === String(child.pid)) return child;
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGKILL');
  throw new Error(`proftpd -c ${files.mainConfig} did not write ${files.pidFile} within 10s: ${stderr.trim()}`);
}

import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  cryptPassword,
  startProftpd,
  throwawayKeys,
  writeMainConfig,
  type ProftpdInstanceFiles,
} from '../../src/loaders/proftpd/instance.js';
import { cli, initRemote, makePair, removeDir, writeFile, type CliResult, type Pair } from '../helpers/fixture.js';
import { curl, FAIL_IP, PROD_IP, skipProftpd, writePrimaryNode, writeStandbyNode } from '../helpers/proftpd-pair.js';

/**
 * The server's identity travels too: production's SFTP host key and FTPS certificate and key are
 * declared secrets; after a promote the failover's ProFTPD answers with them, so an SFTP client
 * pinned to production's host key and an FTPS client pinned to production's certificate log in.
 * Real ProFTPD (as root), real curl, the real CLI.
 */
const skip = skipProftpd('test/e2e/proftpd-secrets.test.ts', ['ftp', 'ftps', 'sftp']);

// High ports, offset by pid (and away from proftpd.test.ts's) so that runs do not collide.
const BASE = 40_000 + (process.pid % 2000) * 10;
const PORT = { sftp: BASE + 1, ftps: BASE + 2 };
const LONG = 300_000;

/** curl with its exit code (0: logged in and listed; 51/60/90: the peer's key or certificate did not match). */
const curlAt = (args: string[], env: NodeJS.ProcessEnv = {}) => curl(['-sS', '--max-time', '10', ...args], env);

/** The host key's public blob as OpenSSH writes it (`ssh-rsa AAAA...`), and curl's --hostpubsha256 of it. */
function hostPublic(keyFile: string): { line: string; sha256: string } {
  const line = execFileSync('ssh-keygen', ['-y', '-f', keyFile], { encoding: 'utf8' }).trim();
  const blob = Buffer.from(line.split(' ')[1]!, 'base64');
  return { line, sha256: createHash('sha256').update(blob).digest('base64') };
}

/** curl's --pinnedpubkey of a certificate: sha256 of its DER SubjectPublicKeyInfo. */
function certPin(certFile: string): string {
  const spki = new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256//${createHash('sha256').update(spki).digest('base64')}`;
}

async function ok(args: string[]): Promise<CliResult> {
  const r = await cli(args, { timeoutMs: 120_000 });
  expect(r.code, `gitfailover ${args.join(' ')}\n${r.stdout}${r.stderr}`).toBe(0);
  return r;
}

describe.skipIf(skip)("ProFTPD failover answers with production's host key and certificate (declared secrets)", () => {
  let pair: Pair;
  let failFtpd: ProftpdInstanceFiles;
  const children: ChildProcess[] = [];
  let prodKeys: { sftpHostKey: string; tlsCertificate: string; tlsKey: string };
  let otherKeys: { sftpHostKey: string; tlsCertificate: string; tlsKey: string };

  beforeAll(async () => {
    pair = makePair();
    chmodSync(pair.dir, 0o755); // homes inside: sessions run as uid 65534
    await initRemote(pair);
    prodKeys = await throwawayKeys(join(pair.dir, 'prod-keys'));
    otherKeys = await throwawayKeys(join(pair.dir, 'other-keys'));
    failFtpd = writeMainConfig(join(pair.dir, 'fail-proftpd'), { serverName: 'failover' });
    children.push(await startProftpd(failFtpd));
    writePrimaryNode(pair, {
      secrets: { files: ['keys/**'], identity: `file:${join(pair.dir, 'prod.agekey')}` },
    });
    // The failover's ProFTPD reads its keys where the decrypted secrets land in its live dir.
    const liveKeys = join(pair.failLive, 'keys');
    writeStandbyNode(pair, {
      sync: { startAfterSync: false },
      secrets: { identity: `file:${join(pair.dir, 'fail.agekey')}` },
      loader: 'proftpd',
      proftpd: {
        configDir: failFtpd.configDir,
        pidFile: failFtpd.pidFile,
        sftpHostKeys: [join(liveKeys, 'sftp_host_rsa.pem')],
        tlsCertificate: join(liveKeys, 'tls.crt'),
        tlsKey: join(liveKeys, 'tls.key'),
        uid: 65534,
        gid: 65534,
        readyTimeout: '20s',
      },
    });
  }, LONG);

  afterAll(() => {
    for (const c of children) c.kill('SIGKILL');
    if (pair) removeDir(pair.dir);
  });

  it(
    "production's keys are replicated as secrets; after promote, pinned SFTP and FTPS clients log into the failover",
    async () => {
      const prodRecipient = (await ok(['keygen', '-c', pair.primary])).stdout.trim();
      const failRecipient = (await ok(['keygen', '-c', pair.standby])).stdout.trim();
      await ok(['secrets', 'add-recipient', 'prod-1', prodRecipient, '-c', pair.primary]);
      await ok(['secrets', 'add-recipient', 'failover-1', failRecipient, '-c', pair.primary]);

      // Production's key store, in its live dir, declared secret.
      const keys = join(pair.prodLive, 'keys');
      mkdirSync(keys, { recursive: true });
      for (const f of [prodKeys.sftpHostKey, prodKeys.tlsCertificate, prodKeys.tlsKey])
        copyFileSync(f, join(keys, f.split('/').pop()!));

      // In the same commit, a domain serving SFTP and FTPS on production's address, using those
      // keys: the failover's ProFTPD check needs the decrypted keys in place before it runs.
      const alice = await cryptPassword('alice-pw');
      const d = join(pair.prodLive, 'domains', 'acme');
      writeFile(join(d, 'domain.yaml'), stringify({ name: 'acme', enabled: true }));
      writeFile(
        join(d, 'services.yaml'),
        stringify({
          services: [
            { name: 'sftp-main', protocol: 'sftp', ip: PROD_IP, port: PORT.sftp },
            { name: 'ftps-main', protocol: 'ftps', ip: PROD_IP, port: PORT.ftps },
          ],
        }),
      );
      writeFile(
        join(d, 'users', 'alice.yaml'),
        stringify({
          name: 'alice',
          passwordHash: alice,
          home: join(pair.dir, 'homes', 'alice'),
          permissions: ['read', 'list'],
        }),
      );
      await ok(['record', '-m', 'production key store and acme', '-c', pair.primary]);
      await ok(['sync', '-c', pair.standby]);
      for (const f of ['sftp_host_rsa.pem', 'tls.crt', 'tls.key']) {
        expect(readFileSync(join(pair.failLive, 'keys', f))).toEqual(readFileSync(join(keys, f)));
        expect(statSync(join(pair.failLive, 'keys', f)).mode & 0o777).toBe(0o600);
      }

      // Failover: production is gone; the failover takes over and serves.
      await ok(['promote', '--reason', 'production down', '-c', pair.standby]);

      const home = join(pair.dir, 'client-home');
      mkdirSync(join(home, '.ssh'), { recursive: true, mode: 0o700 });
      const prodHost = hostPublic(prodKeys.sftpHostKey);
      // known_hosts holds only production's host key, under the failover's address.
      writeFileSync(join(home, '.ssh', 'known_hosts'), `[${FAIL_IP}]:${PORT.sftp} ${prodHost.line}\n`);
      const sftp = await curlAt(
        ['-u', 'alice:alice-pw', '--hostpubsha256', prodHost.sha256, `sftp://${FAIL_IP}:${PORT.sftp}/`],
        { HOME: home },
      );
      expect(sftp, sftp.stderr).toMatchObject({ code: 0 });
      const ftps = await curlAt([
        '-u',
        'alice:alice-pw',
        '--ssl-reqd',
        '--insecure',
        '--pinnedpubkey',
        certPin(prodKeys.tlsCertificate),
        `ftp://${FAIL_IP}:${PORT.ftps}/`,
      ]);
      expect(ftps, ftps.stderr).toMatchObject({ code: 0 });

      // The pins are real checks: another key or certificate is refused by the same clients.
      const wrongHost = await curlAt(
        [
          '-u',
          'alice:alice-pw',
          '--hostpubsha256',
          hostPublic(otherKeys.sftpHostKey).sha256,
          `sftp://${FAIL_IP}:${PORT.sftp}/`,
        ],
        { HOME: home },
      );
      expect(wrongHost.code).not.toBe(0);
      const wrongCert = await curlAt([
        '-u',
        'alice:alice-pw',
        '--ssl-reqd',
        '--insecure',
        '--pinnedpubkey',
        certPin(otherKeys.tlsCertificate),
        `ftp://${FAIL_IP}:${PORT.ftps}/`,
      ]);
      expect(wrongCert.code).toBe(90);
    },
    LONG,
  );
});

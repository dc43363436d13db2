import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { git } from '../src/repo/git.js';

/**
 * Synthetic config repos for the bench, written with `git fast-import` (one process, no work
 * tree, no index): 10,000 domains x 22 files take seconds instead of the minutes the CLI would.
 * Every file's content is unique (the domain is in it), so blob ids never collide across
 * domains and no cache gets a free hit from duplicated content.
 */
export const USERS_PER_DOMAIN = 20;

export function domainName(i: number): string {
  return `d${String(i).padStart(5, '0')}`;
}

export function userName(u: number): string {
  return `u${String(u).padStart(2, '0')}`;
}

/** Production IPs: unique per domain (two domains may not bind one ip:port), never in 10.1/16 (the standby's side). */
export function domainIp(i: number): string {
  return `10.0.${(i >> 8) & 255}.${i & 255}`;
}

export function userYaml(domain: string, user: string, rev = 0): string {
  const hash = createHash('sha256')
    .update(`${domain}/${user}/${rev}`)
    .digest('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 31);
  return `name: ${user}\npasswordHash: "$2b$12$${hash}${'x'.repeat(22)}"\nhome: /data/${domain}/${user}\npermissions: [read, write${rev ? `, rev${rev}` : ''}]\n`;
}

export function domainFiles(i: number): [string, string][] {
  const d = domainName(i);
  const ip = domainIp(i);
  const files: [string, string][] = [
    [`domains/${d}/domain.yaml`, `name: ${d}\nenabled: true\ndescription: synthetic domain ${i}\n`],
    [
      `domains/${d}/services.yaml`,
      `services:\n  - name: sftp\n    protocol: sftp\n    ip: ${ip}\n    port: 22\n  - name: ftps\n    protocol: ftps\n    ip: ${ip}\n    port: 990\n  - name: web\n    protocol: https\n    ip: ${ip}\n    port: 443\n`,
    ],
  ];
  for (let u = 1; u <= USERS_PER_DOMAIN; u++)
    files.push([`domains/${d}/users/${userName(u)}.yaml`, userYaml(d, userName(u))]);
  return files;
}

function data(text: string): string {
  return `data ${Buffer.byteLength(text)}\n${text}\n`;
}

/** Feed a fast-import stream to `gitDir`; resolves when git has written the pack. */
function fastImport(gitDir: string, write: (out: (s: string) => Promise<void>) => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', gitDir, 'fast-import', '--quiet', '--done'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exited ${code}: ${err}`))));
    const out = (s: string) =>
      new Promise<void>((res) => {
        if (child.stdin.write(s)) res();
        else child.stdin.once('drain', () => res());
      });
    write(out)
      .then(() => child.stdin.end('done\n'))
      .catch(reject);
  });
}

let stamp = 1_700_000_000;
function commitHeader(ref: string, message: string): string {
  stamp += 1;
  return `commit ${ref}\ncommitter bench <bench@example.com> ${stamp} +0000\n${data(message)}`;
}

/** A bare repo with `domains` domains on `main` in one commit; returns the commit id. */
export async function generateRepo(gitDir: string, domains: number): Promise<string> {
  await git(['init', '--quiet', '--bare', '--initial-branch=main', gitDir]);
  await fastImport(gitDir, async (out) => {
    await out(commitHeader('refs/heads/main', `synthetic config: ${domains} domains\n`));
    await out(`M 100644 inline server.yaml\n${data('listen: 0.0.0.0\nlogLevel: info\n')}`);
    let chunk = '';
    for (let i = 0; i < domains; i++) {
      for (const [path, text] of domainFiles(i)) chunk += `M 100644 inline ${path}\n${data(text)}`;
      if (chunk.length > 1 << 20) {
        await out(chunk);
        chunk = '';
      }
    }
    await out(chunk);
  });
  return (await git(['rev-parse', 'main'], { gitDir })).stdout.trim();
}

/** One commit on `main` that changes one user file of domain `i` (the partial sync's input). */
export async function commitUserChange(gitDir: string, i: number, user: number, rev: number): Promise<string> {
  const d = domainName(i);
  await fastImport(gitDir, async (out) => {
    await out(commitHeader('refs/heads/main', `change ${d}/${userName(user)} rev ${rev}\n`));
    await out(
      `from refs/heads/main^0\nM 100644 inline domains/${d}/users/${userName(user)}.yaml\n${data(userYaml(d, userName(user), rev))}`,
    );
  });
  return (await git(['rev-parse', 'main'], { gitDir })).stdout.trim();
}

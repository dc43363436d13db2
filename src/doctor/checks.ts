import { accessSync, constants, existsSync, statSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { smtpTransport } from '../triggers/actions/email.js';
import { plaintextSecretWarning, type NodeConfig } from '../config/load.js';
import { GitfailoverError, errorMessage } from '../errors.js';
import { validateTree, CHECK } from '../model/validate.js';
import { domainsDirOf } from '../model/layout.js';
import type { TreeEntry, TreeSource } from '../model/tree-source.js';
import type { Problem } from '../model/parse.js';
import { escapeControl } from '../util/escape.js';
import { parseListen } from '../util/http-server.js';
import { gitVersionText } from '../repo/bare-repo.js';
import { redact } from '../util/redact.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { verifyRange } from '../repo/signatures.js';
import { loadState } from '../sync/state.js';
import { hashNodeFile, loadRunning } from '../daemon/reload.js';
import { pidAlive } from '../util/pid.js';

/** One line of `gitfailover doctor`: what was checked, what was found, and what to do when it failed. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Passed, with something to fix: printed as WARN, not counted as a failure. */
  warn?: boolean;
}

/** Secrets written in the node file in plain text: a warning (the node works, but the file now holds a secret). */
export function plaintextSecrets(cfg: NodeConfig): CheckResult[] {
  const w = plaintextSecretWarning(cfg);
  return w ? [{ name: 'secrets', ok: true, warn: true, detail: w }] : [];
}

const MIN_GIT = [2, 38];
const MIN_FREE_BYTES = 200 * 1024 * 1024;

export async function gitVersion(): Promise<CheckResult> {
  try {
    const out = await gitVersionText();
    const m = /(\d+)\.(\d+)/.exec(out);
    const ok = !!m && (Number(m[1]) > MIN_GIT[0]! || (Number(m[1]) === MIN_GIT[0] && Number(m[2]) >= MIN_GIT[1]!));
    return {
      name: 'git',
      ok,
      detail: out,
      fix: ok ? undefined : `install git ${MIN_GIT.join('.')} or newer (Debian 12+: apt-get install git)`,
    };
  } catch (err) {
    return {
      name: 'git',
      ok: false,
      detail: `git cannot be run: ${errorMessage(err)}`,
      fix: 'install git (apt-get install git) and make sure it is on PATH',
    };
  }
}

/** ls-remote with the node's own credentials: reachability, authentication, and whether the branch exists. */
export async function remoteAndBranch(cfg: NodeConfig): Promise<CheckResult[]> {
  const repo = new NodeRepo(cfg.repo);
  const where = `${redact(cfg.repo.remote)} (repo.remote in ${cfg.file})`;
  try {
    const head = await repo.remoteHead(Math.min(cfg.sync.timeout, 15_000));
    const remote: CheckResult = { name: 'remote', ok: true, detail: `${where} answers` };
    if (head) return [remote, { name: 'branch', ok: true, detail: `${cfg.repo.branch} is at ${head.slice(0, 12)}` }];
    return [
      remote,
      cfg.role === 'primary'
        ? { name: 'branch', ok: true, detail: `${cfg.repo.branch} does not exist yet: the first record creates it` }
        : {
            name: 'branch',
            ok: false,
            detail: `the remote has no branch ${cfg.repo.branch}: nothing to sync`,
            fix: `check repo.branch in ${cfg.file}, or run "gitfailover record" on the primary first`,
          },
    ];
  } catch (err) {
    return [
      {
        name: 'remote',
        ok: false,
        detail: `${where}: ${errorMessage(err)}`,
        fix: 'check the URL, the network path to the git server and the credentials (repo.auth, repo.sshKey, repo.knownHosts); run "git ls-remote <url>" as the service user to see git\'s own answer',
      },
      { name: 'branch', ok: false, detail: 'not checked: the remote did not answer', fix: 'fix the remote first' },
    ];
  } finally {
    repo.close();
  }
}

export function stateDir(cfg: NodeConfig): CheckResult[] {
  const dir = cfg.repo.stateDir;
  const field = `repo.stateDir in ${cfg.file}`;
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  const out: CheckResult[] = [];
  try {
    accessSync(existing, constants.W_OK | constants.X_OK);
    const mode = statSync(existing).mode;
    if (existing === dir && mode & 0o002) {
      out.push({
        name: 'state dir',
        ok: false,
        detail: `${dir} is writable by every user (mode ${(mode & 0o777).toString(8)})`,
        fix: `chmod o-w ${dir} (it holds the clone and the applied state; 0750 or 0700)`,
      });
    } else {
      out.push({
        name: 'state dir',
        ok: true,
        detail: existing === dir ? `${dir} is writable` : `${dir} will be created in ${existing}`,
      });
    }
  } catch {
    out.push({
      name: 'state dir',
      ok: false,
      detail: `${existing === dir ? dir : `${existing} (parent of ${dir})`} is not writable by this user`,
      fix: `chown the folder to the service user, or point ${field} elsewhere (systemd: StateDirectory=gitfailover)`,
    });
  }
  try {
    const s = statfsSync(existing);
    const free = s.bavail * s.bsize;
    const ok = free >= MIN_FREE_BYTES;
    out.push({
      name: 'free space',
      ok,
      detail: `${(free / 1024 / 1024).toFixed(0)} MiB free under ${existing}`,
      fix: ok ? undefined : `free at least ${MIN_FREE_BYTES / 1024 / 1024} MiB there, or move ${field}`,
    });
  } catch (err) {
    out.push({
      name: 'free space',
      ok: false,
      detail: `cannot read the free space of ${existing}: ${errorMessage(err)}`,
      fix: `check ${field}`,
    });
  }
  return out;
}

/** Every argv[0] of commands.* and of exec triggers: found, and executable by this user. */
export function commands(cfg: NodeConfig, env: NodeJS.ProcessEnv = process.env): CheckResult[] {
  const list: { field: string; argv: string[] }[] = [];
  for (const k of ['load', 'start', 'stop', 'delete', 'reload', 'check'] as const) {
    const argv = cfg.commands[k];
    if (argv) list.push({ field: `commands.${k}`, argv });
  }
  cfg.triggers.forEach((t, i) => {
    if (t.exec) list.push({ field: `triggers[${i}].exec`, argv: t.exec.argv });
  });
  if (cfg.loader === 'proftpd' && cfg.proftpd) list.push({ field: 'proftpd.binary', argv: [cfg.proftpd.binary] });
  if (list.length === 0) return [{ name: 'commands', ok: true, detail: 'none configured' }];
  return list.map(({ field, argv }) => {
    const found = findExecutable(argv[0]!, env);
    if (found.ok) return { name: field, ok: true, detail: `${argv[0]} -> ${found.path}` };
    return {
      name: field,
      ok: false,
      detail: `${argv[0]}: ${found.why}`,
      fix: `install it, give its absolute path in ${field} of ${cfg.file}, or chmod +x it`,
    };
  });
}

function findExecutable(cmd: string, env: NodeJS.ProcessEnv): { ok: true; path: string } | { ok: false; why: string } {
  const candidates = cmd.includes('/')
    ? [cmd]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, cmd));
  let seen: string | undefined;
  for (const c of candidates) {
    if (!existsSync(c) || statSync(c).isDirectory()) continue;
    seen = c;
    try {
      accessSync(c, constants.X_OK);
      return { ok: true, path: c };
    } catch {
      /* look further along PATH */
    }
  }
  if (seen) return { ok: false, why: `${seen} is not executable` };
  return { ok: false, why: cmd.includes('/') ? 'no such file' : `not found on PATH (${env.PATH ?? ''})` };
}

/** The listener: can this node bind notify.listen (or does a daemon already answer there)? A primary also reaches its standbys. */
export async function notifyChecks(cfg: NodeConfig): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const { host, port } = parseListen(cfg.notify.listen);
  const bind = await new Promise<string | undefined>((resolve) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen(port, host, () => s.close(() => resolve(undefined)));
  });
  if (!bind) out.push({ name: 'notify.listen', ok: true, detail: `${cfg.notify.listen} can be bound` });
  else if (
    bind === 'EADDRINUSE' &&
    (await answers(`http://${host.includes(':') ? `[${host}]` : host}:${port}/healthz`))
  ) {
    out.push({
      name: 'notify.listen',
      ok: true,
      detail: `${cfg.notify.listen}: a gitfailover daemon already answers there`,
    });
  } else {
    out.push({
      name: 'notify.listen',
      ok: false,
      detail: `cannot bind ${cfg.notify.listen}: ${bind}`,
      fix: `choose a free host:port that exists on this host in notify.listen of ${cfg.file} (loopback unless standbys or Prometheus must reach it)`,
    });
  }
  if (cfg.role === 'standby' && !cfg.notify.secret) {
    out.push({
      name: 'notify.secret',
      ok: true,
      detail:
        'not set: the standby accepts no notify (it syncs on its interval) and only loopback may read /metrics and the status page',
    });
  }
  for (const url of cfg.role === 'primary' ? cfg.notify.standbys : []) {
    const health = new URL('/healthz', url).toString();
    const ok = await answers(health);
    out.push({
      name: 'standby',
      ok,
      detail: `${redact(url)} ${ok ? 'answers' : 'does not answer'} (${redact(health)})`,
      fix: ok
        ? undefined
        : 'start "gitfailover standby" there, check notify.listen on the standby (loopback by default) and the firewall',
    });
  }
  return out;
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Each e-mail trigger's SMTP server: connect, EHLO, STARTTLS and login as configured (nodemailer's verify). */
export async function smtpChecks(cfg: NodeConfig): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const [i, t] of cfg.triggers.entries()) {
    if (!t.email) continue;
    const { smtp } = t.email;
    const transport = smtpTransport(smtp, 5_000);
    try {
      await transport.verify();
      out.push({ name: `triggers[${i}].email`, ok: true, detail: `SMTP ${smtp.host}:${smtp.port} accepts` });
    } catch (err) {
      out.push({
        name: `triggers[${i}].email`,
        ok: false,
        detail: `SMTP ${smtp.host}:${smtp.port}: ${errorMessage(err)}`,
        fix: `check triggers[${i}].email.smtp (host, port, secure/starttls, user and pass) in ${cfg.file}, and that this host may reach the mail server`,
      });
    } finally {
      transport.close();
    }
  }
  return out;
}

/** Standby: every service IP in the remote head has a standby address in substitution.ips. */
export async function substitutionCheck(cfg: NodeConfig): Promise<CheckResult> {
  const repo = new NodeRepo(cfg.repo);
  try {
    await repo.ensure();
    const head = await repo.fetch(Math.min(cfg.sync.timeout, 15_000)).catch(() => repo.resolve(repo.trackingRef));
    if (!head) return { name: 'substitution', ok: true, detail: 'nothing to check: the remote has no commit yet' };
    // The remote head as a tree source: validate's own coverage check, on what the standby would apply.
    const source: TreeSource = {
      list: async () =>
        (await repo.lsTree(head)).map(
          (e): TreeEntry => ({
            path: e.path,
            type: e.mode === '120000' ? 'symlink' : e.type === 'commit' ? 'submodule' : 'file',
            size: e.size || 0,
            mode: parseInt(e.mode, 8),
            id: e.oid,
          }),
        ),
      read: async (path: string) => (await repo.blobs.readBlob(`${head}:${path}`)) ?? Buffer.alloc(0),
    };
    const problems = (
      await validateTree(source, {
        node: cfg,
        domainsDir: domainsDirOf(cfg.live.domains),
        maxFileSize: Number.MAX_SAFE_INTEGER,
      })
    ).filter((p) => p.code === CHECK.notSubstituted);
    if (problems.length === 0)
      return {
        name: 'substitution',
        ok: true,
        detail: `substitution.ips covers every service IP at ${head.slice(0, 12)}`,
      };
    const first = problems.slice(0, 3).map(describeUnmapped);
    return {
      name: 'substitution',
      ok: false,
      detail: `${problems.length} service IP(s) at ${head.slice(0, 12)}: the failover would listen on production's address: ${first.join('; ')}${problems.length > 3 ? '; ...' : ''}`,
      fix: `map each under substitution.ips in ${cfg.file} (production IP: this node's IP), or list it under substitution.keep if it is shared on purpose; "gitfailover validate --node ${cfg.file} <checkout>" lists them all`,
    };
  } catch (err) {
    return {
      name: 'substitution',
      ok: false,
      detail: `could not read the repo: ${errorMessage(err)}`,
      fix: 'fix the remote first',
    };
  } finally {
    repo.close();
  }
}

/** "domain beta, service s, IP 10.0.0.9 (domains/beta/services.yaml:3)" from validate's E_IP_NOT_SUBSTITUTED problem. */
function describeUnmapped(p: Problem): string {
  const domain = p.file.split('/').at(-2) ?? p.file;
  const m = /^services\[\d+\]\.ip: (\S+) of service (.*?) is not in substitution\.ips/s.exec(p.message);
  const what = m ? `service ${escapeControl(m[2]!)}, IP ${m[1]}` : escapeControl(p.message);
  return `domain ${escapeControl(domain)}, ${what} (${escapeControl(p.file)}:${p.line})`;
}

/**
 * repo.verify: the key files load and the remote head passes the very check a sync runs
 * (signatures.ts), under the sync lock since it builds the node's GNUPGHOME.
 */
export async function signaturesCheck(cfg: NodeConfig): Promise<CheckResult[]> {
  const verify = cfg.repo.verify;
  if (!verify) return [];
  const out: CheckResult[] = [];
  if (cfg.role === 'primary' && !cfg.record.signingKey) {
    out.push({
      name: 'record.signingKey',
      ok: false,
      detail:
        "not set while repo.verify is: this node's own commits would be refused by every node that verifies, this one included",
      fix: `set record.signingKey in ${cfg.file} to an SSH private key whose public key is in repo.verify.allowedSigners`,
    });
  }
  const repo = new NodeRepo(cfg.repo);
  try {
    const found = await withLock(
      cfg.repo.stateDir,
      'sync',
      async () => {
        await repo.ensure();
        const head = await repo.fetch(Math.min(cfg.sync.timeout, 15_000)).catch(() => repo.resolve(repo.trackingRef));
        if (!head) return undefined;
        const anchor = loadState(cfg.repo.stateDir).verifiedCommit;
        return {
          head,
          anchor,
          checked: (
            await verifyRange(repo, { anchor, target: head, verify, file: cfg.file, stateDir: cfg.repo.stateDir })
          ).checked.length,
        };
      },
      5_000,
    );
    if (!found) out.push({ name: 'signatures', ok: true, detail: 'nothing to check: the remote has no commit yet' });
    else {
      const since = found.anchor
        ? `above the verified commit ${found.anchor.slice(0, 12)}`
        : verify.anchor
          ? `above repo.verify.anchor ${verify.anchor.slice(0, 12)}`
          : 'since the first commit';
      out.push({
        name: 'signatures',
        ok: true,
        detail: `the remote head ${found.head.slice(0, 12)} passes repo.verify (${found.checked} commit(s) checked ${since})`,
      });
    }
  } catch (err) {
    if (err instanceof GitfailoverError && err.code === 'E_LOCKED')
      out.push({
        name: 'signatures',
        ok: true,
        detail: 'not checked: a sync holds the state dir (it runs the same check)',
      });
    else
      out.push({
        name: 'signatures',
        ok: false,
        detail: errorMessage(err),
        fix: 'see "Signed commits" in the README: sign the change with a trusted key, fix the key files, or set repo.verify.anchor',
      });
  } finally {
    repo.close();
  }
  return out;
}

/** Whether the running daemon (stateDir/daemon.json) runs the node file as it is on disk now. */
export function runningNodeFile(cfg: NodeConfig): CheckResult {
  const r = loadRunning(cfg.repo.stateDir);
  if (!r || !pidAlive(r.pid))
    return { name: 'daemon', ok: true, detail: 'no running gitfailover daemon recorded in the state dir' };
  const now = hashNodeFile(r.file);
  if (r.file === cfg.file && now === r.sha256)
    return {
      name: 'daemon',
      ok: true,
      detail: `gitfailover ${r.daemon} (pid ${r.pid}) runs ${r.file} as it is on disk`,
    };
  return {
    name: 'daemon',
    ok: false,
    warn: true,
    detail:
      r.file === cfg.file
        ? `gitfailover ${r.daemon} (pid ${r.pid}) runs an older ${r.file} (read at ${r.time}) than the one on disk`
        : `gitfailover ${r.daemon} (pid ${r.pid}) runs ${r.file}, not ${cfg.file}`,
    fix: `reload it: systemctl reload gitfailover (or kill -HUP ${r.pid}); its log says whether the file was taken`,
  };
}

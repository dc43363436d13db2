import {
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { GitfailoverError } from '../../errors.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { FilesLoader } from '../files.js';
import type { Loader, LoaderChange, LoaderContext } from '../loader.js';
import { pidAlive } from '../../util/pid.js';
import { bindState, checkSyntax, fatalLines, waitUntilAnswering } from './probe.js';
import {
  bindingKey,
  bindingsOfConf,
  loadProftpdTemplates,
  renderProftpdDomain,
  type ProftpdBinding,
  type ProftpdTemplates,
} from './render.js';

/** The node file's `proftpd` section, paths absolute. */
export interface ProftpdSettings {
  configDir: string;
  mainConfig?: string;
  pidFile: string;
  binary: string;
  templates?: string;
  sftpHostKeys: string[];
  tlsCertificate?: string;
  tlsKey?: string;
  uid: number;
  gid: number;
  createHomes: boolean;
  readyTimeout: number;
}

const ACTIVE = '.conf';
/** Loaded but not served: the main config includes only `*.conf`. */
const STOPPED = '.conf.stopped';
const CHECK_DIR = '.gitfailover-check';
/**
 * Written before a served include file changes, removed after the reload: an apply killed in
 * between (the include files already new, so nothing "changes" when it is resumed) still reloads.
 */
const RELOAD_PENDING = '.gitfailover-reload-pending';

/**
 * `loader: proftpd`: one ProFTPD daemon is the MFT server, one include file
 * (`domains.d/<domain>.conf`) is one domain, one `users.d/<domain>.passwd` its AuthUserFile.
 * The live dir is still written by FilesLoader (status, drift and the manifest rely on it).
 *
 * Order of an apply, and why:
 *  - validate: render every include file into a scratch copy and run `proftpd -t` on it, then
 *    check every listener that is new to the daemon is free to bind. A failed bind during SIGHUP
 *    kills the whole daemon (every domain down), so this must refuse before anything is written.
 *  - writeDomain: users file first (a new listener must find its users), then the include file,
 *    each written whole with a rename.
 *  - activate: SIGHUP only when an include file that is served changed (a user change needs
 *    none: ProFTPD reads the users file at each login), then wait until the new listeners greet.
 */
export class ProftpdLoader implements Loader {
  private readonly files: FilesLoader;
  private readonly templates: ProftpdTemplates;
  private ctx: LoaderContext = { node: '', commit: '', start: false };
  private reloadNeeded = false;
  private probe: ProftpdBinding[] = [];

  constructor(
    readonly liveDir: string,
    readonly domainsDir: string,
    private readonly settings: ProftpdSettings,
  ) {
    this.files = new FilesLoader(liveDir, domainsDir);
    this.templates = loadProftpdTemplates(settings.templates);
  }

  private get domainsD(): string {
    return join(this.settings.configDir, 'domains.d');
  }

  private get usersD(): string {
    return join(this.settings.configDir, 'users.d');
  }

  private get mainConfig(): string {
    return this.settings.mainConfig ?? join(this.settings.configDir, 'proftpd.conf');
  }

  usersFile(domain: string, base = this.settings.configDir): string {
    return join(base, 'users.d', `${domain}.passwd`);
  }

  prepare(ctx: LoaderContext): void {
    this.ctx = ctx;
    this.reloadNeeded = false;
    this.probe = [];
    this.files.prepare();
    mkdirSync(this.domainsD, { recursive: true });
    mkdirSync(this.usersD, { recursive: true, mode: 0o700 });
  }

  domainDir(domain: string): string {
    return this.files.domainDir(domain);
  }

  liveDomains(): string[] {
    return this.files.liveDomains();
  }

  writeGlobal(path: string, content: Buffer): void {
    this.files.writeGlobal(path, content);
  }

  removeGlobal(path: string): void {
    this.files.removeGlobal(path);
  }

  finish(): void {
    this.files.finish();
  }

  /** Domains ProFTPD knows, and whether each is served. */
  proftpdDomains(): Map<string, { active: boolean; conf: string }> {
    const out = new Map<string, { active: boolean; conf: string }>();
    if (!existsSync(this.domainsD)) return out;
    for (const name of readdirSync(this.domainsD).sort()) {
      const active = name.endsWith(ACTIVE);
      if (!active && !name.endsWith(STOPPED)) continue;
      const domain = name.slice(0, -(active ? ACTIVE : STOPPED).length);
      if (domain.startsWith('.') || (out.get(domain)?.active ?? false)) continue;
      out.set(domain, { active, conf: readFileSync(join(this.domainsD, name), 'utf8') });
    }
    return out;
  }

  private render(domain: string, files: ReadonlyMap<string, Buffer>, usersFile: string) {
    return renderProftpdDomain(domain, files, {
      commit: this.ctx.commit,
      domainsDir: this.domainsDir,
      settings: { ...this.settings, templates: this.templates, usersFile },
    });
  }

  writeDomain(domain: string, files: ReadonlyMap<string, Buffer>): void {
    this.files.writeDomain(domain, files);
    const r = this.render(domain, files, this.usersFile(domain));
    if (this.settings.createHomes) for (const h of r.homes) ensureHome(h);
    writeFileAtomic(this.usersFile(domain), r.passwd, { fsync: true, mode: 0o600 });

    const active = join(this.domainsD, domain + ACTIVE);
    const stopped = join(this.domainsD, domain + STOPPED);
    const wasActive = existsSync(active);
    // A served domain stays served; a new or stopped one is served only when this apply starts domains.
    const serve = wasActive || this.ctx.start;
    const before = wasActive ? readFileSync(active, 'utf8') : undefined;
    if (serve && before !== r.conf) this.markReload();
    writeFileAtomic(serve ? active : stopped, r.conf, { fsync: true });
    rmSync(serve ? stopped : active, { force: true });
    if (serve && before !== r.conf) this.probe.push(...r.bindings);
  }

  deleteDomain(domain: string): void {
    this.files.deleteDomain(domain);
    if (existsSync(join(this.domainsD, domain + ACTIVE))) this.markReload();
    rmSync(join(this.domainsD, domain + ACTIVE), { force: true });
    rmSync(join(this.domainsD, domain + STOPPED), { force: true });
    rmSync(this.usersFile(domain), { force: true });
  }

  async validate(change: LoaderChange, ctx: LoaderContext): Promise<void> {
    this.ctx = ctx;
    const current = this.proftpdDomains();
    const candidate = new Map<string, { active: boolean; conf: string; bindings: string[]; file: string }>();
    const check = join(this.settings.configDir, CHECK_DIR);
    rmSync(check, { recursive: true, force: true });
    mkdirSync(join(check, 'domains.d'), { recursive: true });
    mkdirSync(join(check, 'users.d'), { recursive: true, mode: 0o700 });
    try {
      for (const [d, c] of current) {
        if (change.delete.includes(d) || change.load.has(d)) continue;
        candidate.set(d, {
          active: c.active || ctx.start,
          conf: c.conf,
          bindings: bindingsOfConf(c.conf),
          file: join(this.domainsD, d + (c.active ? ACTIVE : STOPPED)),
        });
      }
      for (const [d, files] of change.load) {
        const r = this.render(d, files, this.usersFile(d, check));
        writeFileSync(this.usersFile(d, check), r.passwd, { mode: 0o600 });
        candidate.set(d, {
          active: (current.get(d)?.active ?? false) || ctx.start,
          conf: r.conf,
          bindings: r.bindings.map(bindingKey),
          file: `${this.domainsDir}/${d}/services.yaml`,
        });
      }
      // Key files this apply brings (a new host key beside the service that uses it) are not
      // live yet: the check reads copies of them from the scratch dir instead.
      const staged = this.stageKeyFiles(change, check);
      // Stopped domains are checked too, so that starting them later (promote) cannot fail on syntax.
      for (const [d, c] of candidate) writeFileSync(join(check, 'domains.d', d + ACTIVE), staged(c.conf));
      const main = this.checkMainConfig(check, staged);
      const { ok, output } = await checkSyntax(this.settings.binary, main);
      if (!ok) {
        const lines = fatalLines(output);
        const culprit = [...candidate].find(([d]) =>
          lines.some((l) => l.includes(join(check, 'domains.d', d + ACTIVE))),
        );
        throw new GitfailoverError(
          'E_PROFTPD_CONFIG',
          `commit ${ctx.commit.slice(0, 12)} is refused: "${this.settings.binary} -t" rejects the configuration${culprit ? ` of domain ${culprit[0]} (${culprit[1].file})` : ` (main config ${this.mainConfig})`}: ${lines.join(' / ')}. Nothing was applied and ProFTPD was not reloaded; fix the file and push`,
          {
            kind: 'stalling',
            location: { file: culprit?.[1].file ?? this.mainConfig, commit: ctx.commit },
            data: { output },
          },
        );
      }
      await this.checkBindable(current, candidate, ctx);
    } finally {
      rmSync(check, { recursive: true, force: true });
    }
  }

  /**
   * Copies into `check/keys/` each configured key file (proftpd.sftpHostKeys, tlsCertificate,
   * tlsKey) that lies in the live dir and that this apply writes, and returns a function that
   * points a config text's mentions of those live paths at the copies.
   */
  private stageKeyFiles(change: LoaderChange, check: string): (conf: string) => string {
    const keyFiles = [...this.settings.sftpHostKeys, this.settings.tlsCertificate, this.settings.tlsKey];
    const moved: [string, string][] = [];
    for (const [i, file] of keyFiles.entries()) {
      if (!file) continue;
      const rel = relative(this.liveDir, file);
      if (rel.startsWith('..') || isAbsolute(rel)) continue;
      const content = this.changedFile(change, rel.split(sep).join('/'));
      if (!content) continue;
      const copy = join(check, 'keys', `${i}-${basename(file)}`);
      mkdirSync(dirname(copy), { recursive: true, mode: 0o700 });
      writeFileSync(copy, content, { mode: 0o600 });
      moved.push([file, copy]);
    }
    return (conf) => moved.reduce((text, [from, to]) => text.split(from).join(to), conf);
  }

  /** The content an apply writes at `rel` (relative to the live dir), if it writes it. */
  private changedFile(change: LoaderChange, rel: string): Buffer | undefined {
    const global = change.globals?.get(rel);
    if (global) return global;
    const prefix = `${this.domainsDir}/`;
    if (!rel.startsWith(prefix)) return undefined;
    const [domain, ...rest] = rel.slice(prefix.length).split('/');
    return change.load.get(domain!)?.get(rest.join('/'));
  }

  /** The main config with its `Include .../domains.d/*.conf` pointed at the scratch copy. */
  private checkMainConfig(check: string, staged: (conf: string) => string = (c) => c): string {
    let text: string;
    try {
      text = readFileSync(this.mainConfig, 'utf8');
    } catch (err) {
      throw new GitfailoverError(
        'E_PROFTPD_MAIN_CONFIG',
        `cannot read the ProFTPD main config ${this.mainConfig}: ${(err as Error).message}; create it from templates/proftpd/proftpd.conf (or set proftpd.mainConfig)`,
        {
          kind: 'stalling',
          location: { file: this.mainConfig },
        },
      );
    }
    const include = /^(\s*Include\s+)"?(\S*?)domains\.d\/\*\.conf"?\s*$/m;
    if (!include.test(text)) {
      throw new GitfailoverError(
        'E_PROFTPD_MAIN_CONFIG',
        `${this.mainConfig} has no "Include ${this.domainsD}/*.conf" line: add it (see templates/proftpd/proftpd.conf), so that ProFTPD serves the domains gitfailover writes`,
        {
          kind: 'stalling',
          location: { file: this.mainConfig },
        },
      );
    }
    const main = join(check, 'proftpd.conf');
    writeFileSync(
      main,
      staged(text.replace(include, (_m, lead: string) => `${lead}${join(check, 'domains.d')}/*.conf`)),
    );
    return main;
  }

  /** Every listener the daemon does not hold yet must be free: ProFTPD dies on a failed bind at SIGHUP. */
  private async checkBindable(
    current: Map<string, { active: boolean; conf: string }>,
    candidate: Map<string, { active: boolean; bindings: string[]; file: string }>,
    ctx: LoaderContext,
  ): Promise<void> {
    const held = new Set([...current.values()].filter((c) => c.active).flatMap((c) => bindingsOfConf(c.conf)));
    const owner = new Map<string, string>();
    for (const [d, c] of candidate) {
      if (!c.active) continue;
      for (const key of c.bindings) {
        const other = owner.get(key);
        if (other !== undefined) {
          throw new GitfailoverError(
            'E_DUPLICATE_BINDING',
            `commit ${ctx.commit.slice(0, 12)} is refused: domain ${d} (${c.file}) would listen on ${key}, which domain ${other} also does; reloading ProFTPD would stop the whole daemon. Nothing was applied`,
            {
              kind: 'stalling',
              location: { file: c.file, commit: ctx.commit },
            },
          );
        }
        owner.set(key, d);
        if (held.has(key)) continue;
        const { ip, port } = splitBinding(key);
        const s = await bindState(ip, port);
        if (s === 'free') continue;
        throw new GitfailoverError(
          'E_PROFTPD_BIND',
          `commit ${ctx.commit.slice(0, 12)} is refused: domain ${d} (${c.file}) would listen on ${key}, ${s === 'busy' ? 'which another process already uses' : 'an address this host does not have (check substitution.ips)'}; reloading ProFTPD would stop the whole daemon. Nothing was applied; free the port or change the service, then sync again`,
          { kind: 'stalling', location: { file: c.file, commit: ctx.commit }, data: { binding: key, state: s } },
        );
      }
    }
  }

  private markReload(): void {
    if (!this.reloadNeeded)
      writeFileAtomic(join(this.settings.configDir, RELOAD_PENDING), `${this.ctx.commit}\n`, { fsync: true });
    this.reloadNeeded = true;
  }

  async activate(ctx: LoaderContext): Promise<void> {
    if (ctx.start) this.startStopped();
    if (existsSync(join(this.settings.configDir, RELOAD_PENDING))) this.reloadNeeded = true;
    if (!this.reloadNeeded) return;
    await this.reload(ctx);
  }

  async startAll(ctx: LoaderContext): Promise<string[]> {
    const stopped = [...this.proftpdDomains()].filter(([, c]) => !c.active).map(([d]) => d);
    if (stopped.length === 0) return [];
    await this.validate({ load: new Map(), delete: [] }, { ...ctx, start: true });
    this.ctx = { ...ctx, start: true };
    this.reloadNeeded = false;
    this.probe = [];
    this.startStopped();
    await this.reload(ctx);
    return stopped;
  }

  async stopAll(ctx: LoaderContext): Promise<string[]> {
    const served = [...this.proftpdDomains()].filter(([, c]) => c.active).map(([d]) => d);
    if (served.length === 0) return [];
    this.ctx = { ...ctx, start: false };
    this.probe = [];
    for (const d of served) renameSync(join(this.domainsD, d + ACTIVE), join(this.domainsD, d + STOPPED));
    this.markReload();
    await this.reload(ctx);
    return served;
  }

  private startStopped(): void {
    for (const [d, c] of this.proftpdDomains()) {
      if (c.active) continue;
      this.markReload();
      renameSync(join(this.domainsD, d + STOPPED), join(this.domainsD, d + ACTIVE));
      for (const key of bindingsOfConf(c.conf)) this.probe.push({ ...splitBinding(key), protocol: 'ftp', service: d });
    }
  }

  private async reload(ctx: LoaderContext): Promise<void> {
    const pid = readPid(this.settings.pidFile);
    if (pid === undefined || !pidAlive(pid)) {
      ctx.log?.(
        `proftpd is not running (no live pid in ${this.settings.pidFile}): the configuration is written and will be served when it starts`,
      );
      return;
    }
    process.kill(pid, 'SIGHUP');
    rmSync(join(this.settings.configDir, RELOAD_PENDING), { force: true });
    // Forget what this reload waits for now: a rollback after a failure starts a fresh list.
    const probe = this.probe;
    this.reloadNeeded = false;
    this.probe = [];
    const missing = await waitUntilAnswering(probe, this.settings.readyTimeout, () => pidAlive(pid));
    if (!pidAlive(pid)) {
      throw new GitfailoverError(
        'E_PROFTPD_DIED',
        `proftpd (pid ${pid}, ${this.settings.pidFile}) exited after the reload for commit ${ctx.commit.slice(0, 12)}: read its SystemLog, fix, then start it again and run "gitfailover sync"`,
        {
          kind: 'stalling',
          location: { commit: ctx.commit },
        },
      );
    }
    if (missing.length > 0) {
      throw new GitfailoverError(
        'E_PROFTPD_NOT_READY',
        `after the reload for commit ${ctx.commit.slice(0, 12)}, ${missing.map(bindingKey).join(', ')} did not answer within ${this.settings.readyTimeout}ms: read proftpd's SystemLog`,
        {
          kind: 'waiting',
          location: { commit: ctx.commit },
          data: { missing },
        },
      );
    }
  }
}

function splitBinding(key: string): { ip: string; port: number } {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(key)!;
  return { ip: m[1]!, port: Number(m[2]) };
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** An empty home, so the user can log in on the failover; user data itself is never replicated. */
function ensureHome(h: { path: string; uid: number; gid: number }): void {
  if (existsSync(h.path)) return;
  // Parents must stay traversable by the session user; only the home itself is private to it.
  mkdirSync(dirname(h.path), { recursive: true, mode: 0o755 });
  mkdirSync(h.path, { mode: 0o750 });
  if (process.getuid?.() === 0) chownSync(h.path, h.uid, h.gid);
}

import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { GitfailoverError } from '../../errors.js';
import { parseTree } from '../../model/parse.js';
import type { Service, User } from '../../model/types.js';
import { renderTemplate } from '../../render/template.js';
import { packageRoot } from '../../util/package-info.js';

/**
 * One domain of the default layout -> ProFTPD's include file and users file. Pure: the caller
 * passes the domain's rendered files (IPs already substituted) and the templates' text.
 */

/** The package's templates/proftpd/, from src/, dist/ and the bundle alike. */
export const PROFTPD_TEMPLATE_DIR = join(packageRoot(), 'templates', 'proftpd');

export interface ProftpdTemplates {
  domain: string;
  ftp: string;
  ftps: string;
  sftp: string;
}

export function loadProftpdTemplates(dir: string = PROFTPD_TEMPLATE_DIR): ProftpdTemplates {
  const read = (name: string) => {
    try {
      return readFileSync(join(dir, name), 'utf8');
    } catch (err) {
      throw new GitfailoverError(
        'E_PROFTPD_TEMPLATE',
        `cannot read ProFTPD template ${join(dir, name)}: ${(err as Error).message} (proftpd.templates must hold domain.conf, vhost-ftp.conf, vhost-ftps.conf, vhost-sftp.conf)`,
        {
          kind: 'stalling',
          location: { file: join(dir, name) },
        },
      );
    }
  };
  return {
    domain: read('domain.conf'),
    ftp: read('vhost-ftp.conf'),
    ftps: read('vhost-ftps.conf'),
    sftp: read('vhost-sftp.conf'),
  };
}

export interface ProftpdRenderSettings {
  templates: ProftpdTemplates;
  /** Absolute path the include file names as AuthUserFile. */
  usersFile: string;
  sftpHostKeys: readonly string[];
  tlsCertificate?: string;
  tlsKey?: string;
  uid: number;
  gid: number;
}

/** A listener of the domain, as ProFTPD will open it. */
export interface ProftpdBinding {
  ip: string;
  port: number;
  protocol: 'ftp' | 'ftps' | 'sftp';
  service: string;
}

export interface RenderedProftpdDomain {
  conf: string;
  passwd: string;
  bindings: ProftpdBinding[];
  /** Home folders the users need (created empty when missing: user data is never replicated). */
  homes: { path: string; uid: number; gid: number }[];
}

/** Values spliced into a config line must not be able to end it or start another directive. */
const SAFE_TEXT = /^[A-Za-z0-9 ._@+-]{1,128}$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$/;
/** A crypt(3) hash: `$id$...` (glibc/libxcrypt: $1$, $5$, $6$, $2b$, $y$ ...), no separator nor blank. */
const CRYPT_HASH = /^\$[0-9a-z]{1,2}\$[^\s:]+$/;
const PASSIVE = /^(\d{1,5})-(\d{1,5})$/;

export function renderProftpdDomain(
  domain: string,
  files: ReadonlyMap<string, Buffer>,
  opts: { commit: string; domainsDir: string; settings: ProftpdRenderSettings },
): RenderedProftpdDomain {
  const { commit, domainsDir, settings } = opts;
  const prefix = `${domainsDir}/${domain}/`;
  const entries = [...files]
    .filter(
      ([rel]) =>
        rel === 'domain.yaml' || rel === 'services.yaml' || (rel.startsWith('users/') && rel.endsWith('.yaml')),
    )
    .map(([rel, content]) => ({ path: prefix + rel, id: rel, text: content.toString('utf8') }));
  const model = parseTree(entries, domainsDir).model.domains.get(domain);
  const services = model?.services ?? [];
  const users = [...(model?.users.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  const refuse = (file: string, field: string, message: string) =>
    new GitfailoverError(
      'E_PROFTPD_VALUE',
      `commit ${commit.slice(0, 12)} is refused by the proftpd loader: ${prefix}${file}: ${field}: ${message}. Nothing was applied; fix the file and push`,
      {
        kind: 'stalling',
        location: { file: prefix + file, field, commit },
      },
    );

  const readOnly = users
    .filter((u) => Array.isArray(u.permissions) && !u.permissions.includes('write'))
    .map((u) => u.name);
  const bindings: ProftpdBinding[] = [];
  const vhosts: string[] = [];
  services.forEach((s: Service, i) => {
    const at = `services[${i}]`;
    if (s.protocol === 'https') {
      vhosts.push(`# service ${safe(s.name, 'services.yaml', `${at}.name`)} (https) is not served by ProFTPD`);
      return;
    }
    const name = safe(s.name, 'services.yaml', `${at}.name`);
    const extra: string[] = [];
    const passive = s.passivePorts;
    if (passive !== undefined) {
      const m = typeof passive === 'string' ? PASSIVE.exec(passive) : null;
      if (!m || Number(m[1]) > Number(m[2]) || Number(m[2]) > 65535)
        throw refuse('services.yaml', `${at}.passivePorts`, 'must be a range such as 50000-50100');
      extra.push(`  PassivePorts        ${m[1]} ${m[2]}`);
    }
    if (readOnly.length > 0) extra.push(`  <Limit WRITE>\n    DenyUser          ${readOnly.join(',')}\n  </Limit>`);
    const vars: Record<string, string> = {
      domain,
      service: name,
      ip: s.ip.includes(':') ? `[${s.ip}]` : s.ip,
      port: String(s.port),
      usersFile: settings.usersFile,
      extra: extra.map((l) => `${l}\n`).join(''),
    };
    if (s.protocol === 'ftps') {
      if (!settings.tlsCertificate || !settings.tlsKey)
        throw refuse(
          'services.yaml',
          `${at}.protocol`,
          "an ftps service needs proftpd.tlsCertificate and proftpd.tlsKey in this node's node file; set them (or change the service)",
        );
      vars.tlsCertificate = settings.tlsCertificate;
      vars.tlsKey = settings.tlsKey;
    }
    if (s.protocol === 'sftp') {
      if (settings.sftpHostKeys.length === 0)
        throw refuse(
          'services.yaml',
          `${at}.protocol`,
          "an sftp service needs proftpd.sftpHostKeys in this node's node file; set them (or change the service)",
        );
      vars.sftpHostKeys = settings.sftpHostKeys.map((k) => `  SFTPHostKey         ${k}\n`).join('');
    }
    vhosts.push(
      renderTemplate(settings.templates[s.protocol], vars, `templates/proftpd/vhost-${s.protocol}.conf`).trimEnd(),
    );
    bindings.push({ ip: s.ip, port: s.port, protocol: s.protocol, service: name });
  });

  const homes: RenderedProftpdDomain['homes'] = [];
  const lines = users.map((u: User) => {
    const file = `users/${u.name}.yaml`;
    if (!USER_NAME.test(u.name))
      throw refuse(file, 'name', 'a ProFTPD user name is letters, digits, ".", "_", "@" and "-"');
    let hash = '!'; // no passwordHash: the account exists but cannot log in with a password
    if (u.passwordHash !== undefined) {
      if (!CRYPT_HASH.test(u.passwordHash))
        throw refuse(
          file,
          'passwordHash',
          'must be a crypt(3) hash ProFTPD accepts, such as $6$... (make one with: openssl passwd -6)',
        );
      hash = u.passwordHash;
    }
    const uid = idOf(u.uid, settings.uid, () => refuse(file, 'uid', 'must be a whole number'));
    const gid = idOf(u.gid, settings.gid, () => refuse(file, 'gid', 'must be a whole number'));
    const home = u.home ?? `/nonexistent/${domain}/${u.name}`;
    if (!isAbsolute(home) || /[:\s]/.test(home))
      throw refuse(file, 'home', 'must be an absolute path without ":" or blanks');
    if (u.home !== undefined) homes.push({ path: home, uid, gid });
    return `${u.name}:${hash}:${uid}:${gid}::${home}:/bin/false\n`;
  });

  const conf = renderTemplate(
    settings.templates.domain,
    {
      domain,
      commit,
      usersFile: settings.usersFile,
      bindings: bindings.map((b) => bindingKey(b)).join(' '),
      vhosts: vhosts.join('\n\n'),
    },
    'templates/proftpd/domain.conf',
  );
  return { conf: conf.endsWith('\n') ? conf : `${conf}\n`, passwd: lines.join(''), bindings, homes };

  function safe(value: string, file: string, field: string): string {
    if (!SAFE_TEXT.test(value))
      throw refuse(
        file,
        field,
        'must be letters, digits, blanks, ".", "_", "@", "+" and "-" (it is written into the ProFTPD config)',
      );
    return value;
  }
}

function idOf(value: unknown, fallback: number, bad: () => Error): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw bad();
  return value;
}

export function bindingKey(b: { ip: string; port: number }): string {
  return b.ip.includes(':') ? `[${b.ip}]:${b.port}` : `${b.ip}:${b.port}`;
}

/** The bindings a written include file declares (its `# gitfailover-bindings:` line). */
export function bindingsOfConf(conf: string): string[] {
  const m = /^# gitfailover-bindings:(.*)$/m.exec(conf);
  return m ? m[1]!.trim().split(/\s+/).filter(Boolean) : [];
}

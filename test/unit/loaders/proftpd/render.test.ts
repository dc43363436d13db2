import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { bindingsOfConf, loadProftpdTemplates, renderProftpdDomain } from '../../../../src/loaders/proftpd/render.js';

const templates = loadProftpdTemplates();
const settings = {
  templates,
  usersFile: '/etc/p/users.d/acme.passwd',
  sftpHostKeys: ['/k/rsa'],
  tlsCertificate: '/k/c',
  tlsKey: '/k/k',
  uid: 65534,
  gid: 65534,
};
const HASH = '$6$salt$abcdefghijklmnopqrstuvwxyz';

function files(services: object[], users: Record<string, object>): Map<string, Buffer> {
  const m = new Map<string, Buffer>([
    ['domain.yaml', Buffer.from(stringify({ name: 'acme' }))],
    ['services.yaml', Buffer.from(stringify({ services }))],
  ]);
  for (const [name, u] of Object.entries(users)) m.set(`users/${name}.yaml`, Buffer.from(stringify({ name, ...u })));
  return m;
}
const render = (f: Map<string, Buffer>) =>
  renderProftpdDomain('acme', f, { commit: 'c0ffee', domainsDir: 'domains', settings });

describe('renderProftpdDomain', () => {
  it('one VirtualHost per service, its bindings declared, users in passwd format', () => {
    const r = render(
      files(
        [
          { name: 'ftp', protocol: 'ftp', ip: '10.1.0.5', port: 2121, passivePorts: '50000-50100' },
          { name: 'sftp', protocol: 'sftp', ip: '2001:db8::5', port: 2222 },
          { name: 'ftps', protocol: 'ftps', ip: '10.1.0.5', port: 990 },
          { name: 'web', protocol: 'https', ip: '10.1.0.5', port: 443 },
        ],
        {
          alice: { passwordHash: HASH, home: '/data/alice', permissions: ['read', 'write'] },
          bob: { passwordHash: HASH, home: '/data/bob', permissions: ['read'] },
        },
      ),
    );
    expect(r.conf.match(/<VirtualHost /g)).toHaveLength(3);
    expect(r.conf).toContain('<VirtualHost [2001:db8::5]>');
    expect(r.conf).toContain('PassivePorts        50000 50100');
    expect(r.conf).toContain('SFTPHostKey         /k/rsa');
    expect(r.conf).toContain('TLSRSACertificateFile    /k/c');
    expect(r.conf).toMatch(/DenyUser\s+bob/);
    expect(bindingsOfConf(r.conf)).toEqual(['10.1.0.5:2121', '[2001:db8::5]:2222', '10.1.0.5:990']);
    expect(r.passwd).toBe(
      `alice:${HASH}:65534:65534::/data/alice:/bin/false\nbob:${HASH}:65534:65534::/data/bob:/bin/false\n`,
    );
    expect(r.conf).not.toContain('c0ffee'); // an unchanged domain must render the same bytes: no reload
  });

  it('refuses values that would break out of a config line or the passwd format, naming the file and field', () => {
    const bad = [
      [
        files([{ name: 'x\n  Bogus on', protocol: 'ftp', ip: '10.1.0.5', port: 21 }], {}),
        'domains/acme/services.yaml',
        'services[0].name',
      ],
      [files([], { alice: { passwordHash: 'plain' } }), 'domains/acme/users/alice.yaml', 'passwordHash'],
      [files([], { alice: { passwordHash: HASH, home: '/a:b' } }), 'domains/acme/users/alice.yaml', 'home'],
      [
        files([{ name: 'f', protocol: 'ftp', ip: '10.1.0.5', port: 21, passivePorts: '1-2 3' }], {}),
        'domains/acme/services.yaml',
        'services[0].passivePorts',
      ],
    ] as const;
    for (const [f, file, field] of bad) {
      try {
        render(f);
        expect.unreachable(`${field} accepted`);
      } catch (err) {
        expect((err as { code: string }).code).toBe('E_PROFTPD_VALUE');
        expect((err as { location: { file: string; field: string } }).location).toMatchObject({ file, field });
      }
    }
  });

  it('an sftp service without host keys is refused with what to set', () => {
    expect(() =>
      renderProftpdDomain('acme', files([{ name: 's', protocol: 'sftp', ip: '10.1.0.5', port: 22 }], {}), {
        commit: 'c',
        domainsDir: 'domains',
        settings: { ...settings, sftpHostKeys: [] },
      }),
    ).toThrow(/proftpd\.sftpHostKeys/);
  });
});

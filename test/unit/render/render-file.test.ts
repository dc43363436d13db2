import { describe, expect, it } from 'vitest';
import { GitfailoverError } from '../../../src/errors.js';
import { parseIpMap } from '../../../src/render/ip-map.js';
import { isBinary, renderFile, renderOptionsFor, type RenderOptions } from '../../../src/render/render-file.js';

const opts: RenderOptions = {
  ipMap: parseIpMap({ '10.0.0.5': '10.1.0.5', '2001:db8::5': '2001:db8:1::5' }),
  substituteGlobs: ['native/**/*.conf', 'domains/*/ftp.conf'],
  vars: { host: 'standby.example.com', uni: 'ünïcode' },
};
const render = (path: string, text: string, o: RenderOptions = opts): string =>
  renderFile(path, Buffer.from(text), o).toString();

const SERVICES = `# services of domain a
services:
  - name: sftp        # the main one
    protocol: sftp
    ip: 10.0.0.5      # production
    port: 22
  - { name: ftp, protocol: ftp, ip: "10.0.0.5", port: 21 }
  - name: https
    protocol: https
    ip: '2001:DB8:0:0::5'
    port: 443
  - name: other
    protocol: ftps
    ip: 10.0.0.50
    port: 990
# 10.0.0.5 in a comment stays
`;

describe('renderFile: services.yaml', () => {
  it('substitutes each service ip as an address and keeps everything else byte-identical', () => {
    expect(render('domains/a/services.yaml', SERVICES)).toBe(
      SERVICES.replace('ip: 10.0.0.5      #', 'ip: 10.1.0.5      #')
        .replace('ip: "10.0.0.5"', 'ip: "10.1.0.5"')
        .replace("ip: '2001:DB8:0:0::5'", "ip: '2001:db8:1::5'"),
    );
  });

  it('honours a custom domains folder', () => {
    expect(render('sites/a/services.yaml', SERVICES, { ...opts, domainsDir: 'sites' })).toContain('ip: 10.1.0.5');
    expect(render('sites/a/services.yaml', SERVICES)).toBe(SERVICES);
  });

  it('also substitutes the text when the globs name it', () => {
    const out = render('domains/a/services.yaml', SERVICES, { ...opts, substituteGlobs: ['**/services.yaml'] });
    expect(out).toContain('# 10.1.0.5 in a comment stays');
    expect(out).toContain('ip: 10.0.0.50');
  });

  it('accepts a bare list and templates before parsing', () => {
    const text = '- name: a\n  protocol: sftp\n  ip: 10.0.0.5\n  port: 22\n  banner: {{ host }}\n';
    expect(render('domains/a/services.yaml', text)).toBe(
      '- name: a\n  protocol: sftp\n  ip: 10.1.0.5\n  port: 22\n  banner: standby.example.com\n',
    );
  });

  it('returns the same Buffer when no ip is mapped', () => {
    const buf = Buffer.from('services:\n  - {name: a, protocol: sftp, ip: 10.0.0.6, port: 22}\n');
    expect(renderFile('domains/a/services.yaml', buf, opts)).toBe(buf);
  });

  it('refuses services.yaml that does not parse, naming the file', () => {
    try {
      renderFile('domains/a/services.yaml', Buffer.from('services: [\n'), opts);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(GitfailoverError);
      expect((err as GitfailoverError).code).toBe('E_RENDER_YAML');
      expect((err as GitfailoverError).location.file).toBe('domains/a/services.yaml');
    }
  });
});

describe('renderFile: text files', () => {
  it('substitutes whole addresses in files the globs name', () => {
    expect(render('native/x/site.conf', 'Listen 10.0.0.5:2121\nBackup 10.0.0.50\nV6 [2001:db8::5]:22\n')).toBe(
      'Listen 10.1.0.5:2121\nBackup 10.0.0.50\nV6 [2001:db8:1::5]:22\n',
    );
    expect(render('native/.hidden.conf', 'Listen 10.0.0.5\n')).toBe('Listen 10.1.0.5\n');
    expect(render('domains/a/ftp.conf', 'Listen 10.0.0.5\n')).toBe('Listen 10.1.0.5\n');
  });

  it('leaves files outside the globs as they are (same Buffer)', () => {
    const buf = Buffer.from('Listen 10.0.0.5\n');
    expect(renderFile('other/site.conf', buf, opts)).toBe(buf);
    expect(renderFile('domains/a/users/bob.yaml', buf, opts)).toBe(buf);
  });

  it('returns the same Buffer when a matching file has no mapped address', () => {
    const buf = Buffer.from('Listen 10.0.0.6\n');
    expect(renderFile('native/a.conf', buf, opts)).toBe(buf);
  });

  it('fills placeholders in any text file, then substitutes', () => {
    expect(render('server.yaml', 'name: {{ host }}\n')).toBe('name: standby.example.com\n');
    expect(render('native/a.conf', 'ip {{ip}}\n', { ...opts, vars: { ip: '10.0.0.5' } })).toBe('ip 10.1.0.5\n');
  });

  it('copies a file with braces but no placeholder unchanged', () => {
    const buf = Buffer.from('re = \\{{2}\\}\n{{#each x}}\n');
    expect(renderFile('server.yaml', buf, opts)).toBe(buf);
  });

  it('throws E_TEMPLATE_VAR for a placeholder without a value', () => {
    try {
      renderFile('domains/a/domain.yaml', Buffer.from('name: a\nhost: {{ nope }}\n'), opts);
      expect.unreachable();
    } catch (err) {
      expect((err as GitfailoverError).code).toBe('E_TEMPLATE_VAR');
      expect((err as GitfailoverError).location).toEqual({
        file: 'domains/a/domain.yaml',
        line: 2,
        col: 7,
        field: 'nope',
      });
    }
  });

  it('keeps UTF-8 (with BOM) and non-UTF-8 bytes exact', () => {
    const utf8 = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('# café\nListen 10.0.0.5 {{ uni }}\n')]);
    const out = renderFile('native/a.conf', utf8, opts);
    expect(out.subarray(0, 3)).toEqual(Buffer.from([0xef, 0xbb, 0xbf]));
    expect(out.subarray(3).toString('utf8')).toBe('# café\nListen 10.1.0.5 ünïcode\n');

    const latin1 = Buffer.concat([
      Buffer.from('# caf'),
      Buffer.from([0xe9, 0xff]),
      Buffer.from(' Listen 10.0.0.5 {{host}}\n'),
    ]);
    const out2 = renderFile('native/a.conf', latin1, opts);
    expect(out2).toEqual(
      Buffer.concat([
        Buffer.from('# caf'),
        Buffer.from([0xe9, 0xff]),
        Buffer.from(' Listen 10.1.0.5 standby.example.com\n'),
      ]),
    );
    const out3 = renderFile('native/a.conf', Buffer.concat([Buffer.from([0xff]), Buffer.from('{{ uni }}')]), opts);
    expect(out3).toEqual(Buffer.concat([Buffer.from([0xff]), Buffer.from('ünïcode')]));
  });
});

describe('renderFile: binary files', () => {
  it('never touches a file with a NUL byte in its first 8 KB', () => {
    const bin = Buffer.concat([Buffer.from('Listen 10.0.0.5 {{ nope }}\n'), Buffer.from([0])]);
    expect(renderFile('native/a.conf', bin, opts)).toBe(bin);
    expect(renderFile('domains/a/services.yaml', bin, opts)).toBe(bin);
  });

  it('sniffs only the first 8 KB', () => {
    expect(isBinary(Buffer.concat([Buffer.alloc(8192, 0x61), Buffer.from([0])]))).toBe(false);
    expect(isBinary(Buffer.concat([Buffer.alloc(8191, 0x61), Buffer.from([0])]))).toBe(true);
  });
});

describe('renderFile: idempotence', () => {
  it('rendering a rendered file changes nothing when targets are not production addresses', () => {
    for (const [path, text] of [
      ['domains/a/services.yaml', SERVICES],
      ['native/a.conf', 'Listen 10.0.0.5:21 [2001:db8::5]:22 ::ffff:10.0.0.5\n'],
    ] as const) {
      const once = renderFile(path, Buffer.from(text), opts);
      expect(renderFile(path, once, opts)).toBe(once);
    }
  });
});

describe('renderOptionsFor', () => {
  it('builds options from the node file section and validates the map', () => {
    const o = renderOptionsFor(
      { ips: { '10.0.0.5': '10.1.0.5' }, files: ['native/**/*.conf'], vars: {} },
      'gitfailover.yaml',
      'sites',
    );
    expect(o.domainsDir).toBe('sites');
    expect(render('native/a.conf', 'x 10.0.0.5', o)).toBe('x 10.1.0.5');
    expect(() => renderOptionsFor({ ips: { '10.0.0.5': 'nope' }, files: [], vars: {} }, 'gitfailover.yaml')).toThrow(
      /gitfailover.yaml/,
    );
  });
});

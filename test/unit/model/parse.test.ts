import { describe, expect, it } from 'vitest';
import { buildModel, isModelFile, parseConfigFile, treeProblems } from '../../../src/model/parse.js';

describe('parseConfigFile', () => {
  it('parses services with their extra fields', () => {
    const f = parseConfigFile(
      'domains/acme/services.yaml',
      'services:\n  - {name: a, protocol: sftp, ip: "2001:db8::5", port: 22, banner: hi}\n',
      'domains',
    );
    expect(f.kind).toBe('services');
    expect(f.problems).toEqual([]);
    expect(f.kind === 'services' && f.value).toEqual([
      { name: 'a', protocol: 'sftp', ip: '2001:db8::5', port: 22, banner: 'hi' },
    ]);
  });

  it('locates a bad port, a bad ip and a bad protocol at their line and column', () => {
    const text = ['services:', '  - name: a', '    protocol: gopher', '    ip: 10.0.0.300', '    port: 70000', ''].join(
      '\n',
    );
    const f = parseConfigFile('domains/acme/services.yaml', text, 'domains');
    expect(f.problems.map((p) => [p.code, p.line, p.col, p.field])).toEqual([
      ['E_SCHEMA', 3, 15, 'services[0].protocol'],
      ['E_IP_INVALID', 4, 9, 'services[0].ip'],
      ['E_PORT_INVALID', 5, 11, 'services[0].port'],
    ]);
    expect(f.problems[2]!.message).toContain('70000');
    expect(f.problems.every((p) => p.file === 'domains/acme/services.yaml')).toBe(true);
  });

  it('refuses IPv4 shorthands that are not four-part decimal', () => {
    const f = parseConfigFile(
      'domains/acme/services.yaml',
      'services:\n  - {name: a, protocol: ftp, ip: "10.5", port: 21}\n',
      'domains',
    );
    expect(f.problems.map((p) => p.code)).toEqual(['E_IP_INVALID']);
  });

  it('reports a missing required field at the service', () => {
    const f = parseConfigFile(
      'domains/acme/services.yaml',
      'services:\n  - name: a\n    protocol: ftp\n    ip: 10.0.0.5\n',
      'domains',
    );
    expect(f.problems).toMatchObject([{ code: 'E_PORT_INVALID', line: 2, field: 'services[0].port' }]);
  });

  it('reports YAML syntax errors with the line', () => {
    const f = parseConfigFile('domains/acme/users/alice.yaml', 'name: alice\nhome: [unclosed\n', 'domains');
    expect(f.problems).toHaveLength(1);
    expect(f.problems[0]).toMatchObject({ code: 'E_YAML', file: 'domains/acme/users/alice.yaml' });
    expect(f.problems[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('refuses duplicate keys', () => {
    const f = parseConfigFile('server.yaml', 'a: 1\na: 2\n', 'domains');
    expect(f.problems).toMatchObject([{ code: 'E_YAML', line: 2 }]);
  });

  it('requires a mapping at the top', () => {
    const f = parseConfigFile('domains/acme/domain.yaml', '- a\n', 'domains');
    expect(f.problems).toMatchObject([{ code: 'E_SCHEMA', line: 1, col: 1 }]);
  });

  it('defaults enabled to true and names the domain by its folder', () => {
    const f = parseConfigFile('domains/acme/domain.yaml', 'description: x\n', 'domains');
    expect(f.kind === 'domain' && f.value).toEqual({ name: 'acme', enabled: true, description: 'x' });
  });

  it('refuses a name that differs from the folder or the file', () => {
    expect(parseConfigFile('domains/acme/domain.yaml', 'name: other\n', 'domains').problems).toMatchObject([
      { code: 'E_NAME_MISMATCH', line: 1, col: 7 },
    ]);
    expect(parseConfigFile('domains/acme/users/alice.yaml', '# c\nname: bob\n', 'domains').problems).toMatchObject([
      { code: 'E_NAME_MISMATCH', line: 2, col: 7, field: 'name' },
    ]);
  });

  it('refuses two services of one name (they are matched by name)', () => {
    const text =
      'services:\n  - {name: a, protocol: ftp, ip: 10.0.0.5, port: 21}\n  - {name: a, protocol: ftp, ip: 10.0.0.5, port: 22}\n';
    expect(parseConfigFile('domains/acme/services.yaml', text, 'domains').problems).toMatchObject([
      { code: 'E_SERVICE_DUPLICATE', line: 3 },
    ]);
  });

  it('checks user fields', () => {
    const f = parseConfigFile('domains/acme/users/alice.yaml', 'permissions: read\nhome: 5\n', 'domains');
    expect(f.problems.map((p) => [p.field, p.line])).toEqual(
      [
        ['home', 2],
        ['permissions', 1],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
  });

  it('leaves other files unparsed', () => {
    expect(parseConfigFile('domains/acme/native/x.yaml', ': : :', 'domains')).toMatchObject({
      kind: 'other',
      problems: [],
    });
    expect(isModelFile('domains/acme/native/x.yaml')).toBe(false);
    expect(isModelFile('domains/acme/users/alice.yaml')).toBe(true);
    expect(isModelFile('server.yaml')).toBe(true);
    expect(isModelFile('.gitfailover/primary')).toBe(false);
  });

  it('checks triggers.yaml for YAML syntax only', () => {
    expect(parseConfigFile('domains/acme/triggers.yaml', '- on: sync\n', 'domains').problems).toEqual([]);
    expect(parseConfigFile('domains/acme/triggers.yaml', '- on: [\n', 'domains').problems).toMatchObject([
      { code: 'E_YAML' },
    ]);
  });
});

describe('buildModel', () => {
  it('builds domains, services, users and files; records other files by id', () => {
    const m = buildModel([
      { path: 'server.yaml', id: 's1', text: 'logLevel: info\n' },
      { path: 'native/motd.txt', id: 'r1' },
      { path: '.gitfailover/primary', id: 'm1' },
      { path: 'domains/acme/domain.yaml', id: 'd1', text: 'name: acme\n' },
      {
        path: 'domains/acme/services.yaml',
        id: 'v1',
        text: 'services:\n  - {name: a, protocol: ftp, ip: 10.0.0.5, port: 21}\n',
      },
      { path: 'domains/acme/users/alice.yaml', id: 'u1', text: 'home: /a\n' },
      { path: 'domains/acme/native/x.conf', id: 'x1' },
      { path: 'domains/acme/triggers.yaml', id: 't1', text: '[]\n' },
      { path: 'domains/empty/native/y', id: 'y1' },
    ]);
    expect(m.server).toEqual({ logLevel: 'info' });
    expect(m.serverId).toBe('s1');
    expect([...m.files]).toEqual([['native/motd.txt', 'r1']]);
    expect([...m.domains.keys()]).toEqual(['acme', 'empty']);
    const acme = m.domains.get('acme')!;
    expect(acme.settings).toEqual({ name: 'acme', enabled: true });
    expect(acme.services).toEqual([{ name: 'a', protocol: 'ftp', ip: '10.0.0.5', port: 21 }]);
    expect([...acme.users]).toEqual([['alice', { name: 'alice', home: '/a' }]]);
    expect([...acme.files]).toEqual([
      ['native/x.conf', 'x1'],
      ['triggers.yaml', 't1'],
    ]);
    expect([...acme.layoutFiles!.keys()]).toEqual(['domain.yaml', 'services.yaml', 'users/alice.yaml']);
    expect(m.domains.get('empty')!.settings).toBeUndefined();
  });

  it('returns every problem of a set of files, sorted', () => {
    const problems = treeProblems([
      { path: 'domains/b/domain.yaml', id: '1', text: 'enabled: maybe\n' },
      {
        path: 'domains/a/services.yaml',
        id: '2',
        text: 'services:\n  - {name: a, protocol: ftp, ip: 10.0.0.5, port: 0}\n',
      },
      { path: 'domains/a/users/x.yaml', id: '3' },
    ]);
    expect(problems.map((p) => [p.file, p.code])).toEqual([
      ['domains/a/services.yaml', 'E_PORT_INVALID'],
      ['domains/a/users/x.yaml', 'E_NOT_READ'],
      ['domains/b/domain.yaml', 'E_SCHEMA'],
    ]);
  });
});

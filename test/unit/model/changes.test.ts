import { describe, expect, it } from 'vitest';
import { diffModels, diffFields, isSecretField } from '../../../src/model/changes.js';
import { buildModel } from '../../../src/model/parse.js';
import { gitBlobId } from '../../../src/model/tree-source.js';
import type { Change, ConfigModel } from '../../../src/model/types.js';

/** A model from a map of path -> file text, ids computed as git would. */
function model(files: Record<string, string>): ConfigModel {
  return buildModel(Object.entries(files).map(([path, text]) => ({ path, id: gitBlobId(Buffer.from(text)), text })));
}

const SERVICES = `services:
  - name: sftp-main
    protocol: sftp
    ip: 10.0.0.5
    port: 22
  - name: ftps-main
    protocol: ftps
    ip: 10.0.0.5
    port: 990
`;
const ALICE =
  'name: alice\npasswordHash: "$2b$12$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"\nhome: /data/alice\npermissions: [read]\n';
const BOB = 'passwordHash: "$2b$12$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"\nhome: /data/bob\n';

const base = {
  'server.yaml': 'logLevel: info\nlimits:\n  maxSessions: 10\n',
  'native/motd.txt': 'hello',
  'domains/acme/domain.yaml': 'name: acme\nenabled: true\n',
  'domains/acme/services.yaml': SERVICES,
  'domains/acme/users/alice.yaml': ALICE,
  'domains/acme/users/bob.yaml': BOB,
  'domains/acme/native/acme.conf': 'x=1\n',
  'domains/beta/domain.yaml': 'enabled: true\n',
  '.gitfailover/primary': 'prod-1\n',
};

function diff(changes: Record<string, string | null>): Change[] {
  const after: Record<string, string> = { ...base };
  for (const [p, t] of Object.entries(changes)) {
    if (t === null) delete after[p];
    else after[p] = t;
  }
  return diffModels(model(base), model(after));
}

describe('diffModels', () => {
  it('finds nothing between equal trees', () => {
    expect(diffModels(model(base), model(base))).toEqual([]);
  });

  it('ignores .gitfailover metadata', () => {
    expect(diff({ '.gitfailover/primary': 'prod-2\n' })).toEqual([]);
  });

  it('reports a domain added and removed', () => {
    expect(
      diff({ 'domains/gamma/domain.yaml': 'enabled: true\n', 'domains/gamma/users/zed.yaml': 'home: /z\n' }),
    ).toEqual([{ kind: 'domain.added', domain: 'gamma' }]);
    expect(diff({ 'domains/beta/domain.yaml': null })).toEqual([{ kind: 'domain.removed', domain: 'beta' }]);
  });

  it('sees a domain rename as remove + add, not as users moving', () => {
    const after: Record<string, string> = {};
    for (const [p, t] of Object.entries(base))
      after[p.replace('domains/acme/', 'domains/acme2/')] = t.replace('name: acme\n', 'name: acme2\n');
    expect(diffModels(model(base), model(after))).toEqual([
      { kind: 'domain.removed', domain: 'acme' },
      { kind: 'domain.added', domain: 'acme2' },
    ]);
  });

  it('reports domain.yaml field changes with values', () => {
    expect(diff({ 'domains/acme/domain.yaml': 'name: acme\nenabled: false\nquota: 5\n' })).toEqual([
      {
        kind: 'domain.changed',
        domain: 'acme',
        fields: [
          { field: 'enabled', from: true, to: false },
          { field: 'quota', to: 5 },
        ],
      },
    ]);
  });

  it('treats a missing enabled as the default true', () => {
    expect(diff({ 'domains/acme/domain.yaml': 'name: acme\n' })).toEqual([
      { kind: 'file.changed', path: 'domains/acme/domain.yaml', domain: 'acme' },
    ]);
  });

  it('reports services added, removed and changed with old -> new values, matched by name', () => {
    const changed =
      SERVICES.replace('port: 22', 'port: 2222').replace(/ {2}- name: ftps-main[\s\S]*$/, '') +
      '  - name: https-api\n    protocol: https\n    ip: 10.0.0.6\n    port: 443\n';
    expect(diff({ 'domains/acme/services.yaml': changed })).toEqual([
      { kind: 'service.removed', domain: 'acme', service: 'ftps-main' },
      { kind: 'service.added', domain: 'acme', service: 'https-api' },
      {
        kind: 'service.changed',
        domain: 'acme',
        service: 'sftp-main',
        fields: [{ field: 'port', from: 22, to: 2222 }],
      },
    ]);
  });

  it('reports a reordering of services (no field changed) as a file change', () => {
    const [head, a, b] = SERVICES.split(/(?= {2}- name)/);
    expect(diff({ 'domains/acme/services.yaml': head! + b! + a! })).toEqual([
      { kind: 'file.changed', path: 'domains/acme/services.yaml', domain: 'acme' },
    ]);
  });

  it('reports users added, removed and changed with their fields', () => {
    expect(
      diff({
        'domains/acme/users/carol.yaml': 'home: /c\n',
        'domains/acme/users/bob.yaml': null,
        'domains/acme/users/alice.yaml': ALICE.replace('/data/alice', '/data/alice2').replace(
          '[read]',
          '[read, write]',
        ),
      }),
    ).toEqual([
      { kind: 'user.removed', domain: 'acme', user: 'bob' },
      { kind: 'user.added', domain: 'acme', user: 'carol' },
      {
        kind: 'user.changed',
        domain: 'acme',
        user: 'alice',
        fields: [
          { field: 'home', from: '/data/alice', to: '/data/alice2' },
          { field: 'permissions', from: ['read'], to: ['read', 'write'] },
        ],
      },
    ]);
  });

  it('reports a password change without the hashes', () => {
    const changes = diff({ 'domains/acme/users/bob.yaml': BOB.replace(/b{53}/, 'c'.repeat(53)) });
    expect(changes).toEqual([
      { kind: 'user.changed', domain: 'acme', user: 'bob', fields: [{ field: 'passwordHash', redacted: true }] },
    ]);
    expect(JSON.stringify(changes)).not.toContain('$2b$');
  });

  it('reports a user moved between domains as one user.moved, with changed fields', () => {
    expect(
      diff({
        'domains/acme/users/alice.yaml': null,
        'domains/beta/users/alice.yaml': ALICE.replace('/data/alice', '/data/beta/alice'),
      }),
    ).toEqual([
      {
        kind: 'user.moved',
        user: 'alice',
        from: 'acme',
        to: 'beta',
        fields: [{ field: 'home', from: '/data/alice', to: '/data/beta/alice' }],
      },
    ]);
  });

  it('does not guess a move when the same user appears in two domains', () => {
    const before = model({
      'domains/a/domain.yaml': '{}\n',
      'domains/a/users/alice.yaml': 'home: /a\n',
      'domains/b/domain.yaml': '{}\n',
      'domains/c/domain.yaml': '{}\n',
    });
    const after = model({
      'domains/a/domain.yaml': '{}\n',
      'domains/b/domain.yaml': '{}\n',
      'domains/b/users/alice.yaml': 'home: /a\n',
      'domains/c/domain.yaml': '{}\n',
      'domains/c/users/alice.yaml': 'home: /a\n',
    });
    expect(diffModels(before, after)).toEqual([
      { kind: 'user.removed', domain: 'a', user: 'alice' },
      { kind: 'user.added', domain: 'b', user: 'alice' },
      { kind: 'user.added', domain: 'c', user: 'alice' },
    ]);
  });

  it('does not see a move into a new domain (that domain is added whole)', () => {
    expect(diff({ 'domains/acme/users/alice.yaml': null, 'domains/gamma/users/alice.yaml': ALICE })).toEqual([
      { kind: 'user.removed', domain: 'acme', user: 'alice' },
      { kind: 'domain.added', domain: 'gamma' },
    ]);
  });

  it('reports server.yaml field changes, nested ones by dotted path', () => {
    expect(diff({ 'server.yaml': 'logLevel: debug\nlimits:\n  maxSessions: 20\n' })).toEqual([
      {
        kind: 'server.changed',
        fields: [
          { field: 'limits.maxSessions', from: 10, to: 20 },
          { field: 'logLevel', from: 'info', to: 'debug' },
        ],
      },
    ]);
  });

  it('redacts secret-looking server fields, also inside a mapping added whole or a list', () => {
    expect(
      diff({ 'server.yaml': 'logLevel: info\nlimits:\n  maxSessions: 10\nsmtp:\n  host: mx\n  password: env:SMTP\n' }),
    ).toEqual([
      {
        kind: 'server.changed',
        fields: [
          { field: 'smtp.host', to: 'mx' },
          { field: 'smtp.password', redacted: true },
        ],
      },
    ]);
    expect(
      diff({ 'server.yaml': 'logLevel: info\nlimits:\n  maxSessions: 10\nrelays:\n  - {host: a, secret: s3}\n' }),
    ).toEqual([{ kind: 'server.changed', fields: [{ field: 'relays', redacted: true }] }]);
  });

  it('reports other files added, removed and changed, in and out of domains', () => {
    expect(
      diff({
        'native/motd.txt': 'hello again',
        'docs/ops.md': 'x',
        'domains/acme/native/acme.conf': null,
        'domains/acme/native/new.conf': 'y',
        'domains/acme/triggers.yaml': '[]\n',
      }),
    ).toEqual([
      { kind: 'file.added', path: 'docs/ops.md' },
      { kind: 'file.changed', path: 'native/motd.txt' },
      { kind: 'file.removed', path: 'domains/acme/native/acme.conf', domain: 'acme' },
      { kind: 'file.added', path: 'domains/acme/native/new.conf', domain: 'acme' },
      { kind: 'file.added', path: 'domains/acme/triggers.yaml', domain: 'acme' },
    ]);
  });

  it('orders changes by domain, then kind, then name, whatever the input order', () => {
    const changes = diff({
      'server.yaml': 'logLevel: debug\nlimits:\n  maxSessions: 10\n',
      'domains/beta/users/zed.yaml': 'home: /z\n',
      'domains/beta/users/amy.yaml': 'home: /a\n',
      'domains/acme/users/bob.yaml': null,
      'domains/acme/domain.yaml': 'enabled: false\n',
      'domains/aaa/domain.yaml': 'enabled: true\n',
      'domains/acme/native/acme.conf': 'x=2\n',
      'native/motd.txt': 'changed',
    });
    expect(changes.map((c) => [c.kind, 'domain' in c ? c.domain : '', 'user' in c ? c.user : ''])).toEqual([
      ['server.changed', '', ''],
      ['file.changed', '', ''],
      ['domain.added', 'aaa', ''],
      ['domain.changed', 'acme', ''],
      ['user.removed', 'acme', 'bob'],
      ['file.changed', 'acme', ''],
      ['user.added', 'beta', 'amy'],
      ['user.added', 'beta', 'zed'],
    ]);
    // Deterministic: the same list from entries given in another order.
    const shuffled = Object.entries(base).reverse();
    expect(diffModels(model(Object.fromEntries(shuffled)), model(base))).toEqual([]);
  });

  it('uses the domains dir given for file paths', () => {
    const a = buildModel([{ path: 'tenants/acme/x.conf', id: '1' }], 'tenants');
    const b = buildModel([{ path: 'tenants/acme/x.conf', id: '2' }], 'tenants');
    expect(diffModels(a, b, { domainsDir: 'tenants' })).toEqual([
      { kind: 'file.changed', path: 'tenants/acme/x.conf', domain: 'acme' },
    ]);
  });
});

describe('diffFields', () => {
  it('compares lists whole and objects by field', () => {
    expect(diffFields({ a: [1, 2], o: { x: 1, y: { z: 1 } } }, { a: [1, 2], o: { x: 1, y: { z: 2 } } })).toEqual([
      { field: 'o.y.z', from: 1, to: 2 },
    ]);
    expect(diffFields({ a: { x: 1 } }, { a: 5 })).toEqual([{ field: 'a', from: { x: 1 }, to: 5 }]);
  });

  it('knows secret-looking fields', () => {
    for (const f of ['passwordHash', 'password', 'smtp.password', 'client_secret', 'apiToken', 'pass'])
      expect(isSecretField(f), f).toBe(true);
    for (const f of ['home', 'passwordPolicy', 'passive', 'port', 'permissions'])
      expect(isSecretField(f), f).toBe(false);
  });
});

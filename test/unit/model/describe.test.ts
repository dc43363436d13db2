import { describe, expect, it } from 'vitest';
import { describeChange, formatValue, summarizeChanges } from '../../../src/model/describe.js';
import type { Change } from '../../../src/model/types.js';

describe('describeChange', () => {
  const cases: [Change, string][] = [
    [{ kind: 'domain.added', domain: 'acme' }, 'acme: add domain'],
    [{ kind: 'domain.removed', domain: 'acme' }, 'acme: remove domain'],
    [
      { kind: 'domain.changed', domain: 'acme', fields: [{ field: 'enabled', from: true, to: false }] },
      'acme: domain enabled true -> false',
    ],
    [{ kind: 'service.added', domain: 'acme', service: 'sftp-main' }, 'acme: add service sftp-main'],
    [{ kind: 'service.removed', domain: 'acme', service: 'sftp-main' }, 'acme: remove service sftp-main'],
    [
      {
        kind: 'service.changed',
        domain: 'acme',
        service: 'sftp-main',
        fields: [{ field: 'port', from: 22, to: 2222 }],
      },
      'acme: service sftp-main port 22 -> 2222',
    ],
    [{ kind: 'user.added', domain: 'acme', user: 'alice' }, 'acme: add user alice'],
    [{ kind: 'user.removed', domain: 'acme', user: 'alice' }, 'acme: remove user alice'],
    [
      { kind: 'user.changed', domain: 'acme', user: 'bob', fields: [{ field: 'passwordHash', redacted: true }] },
      'acme: user bob password changed',
    ],
    [
      {
        kind: 'user.changed',
        domain: 'acme',
        user: 'bob',
        fields: [
          { field: 'home', to: '/b' },
          { field: 'permissions', from: ['read'], to: ['read', 'write'] },
        ],
      },
      'acme: user bob home (none) -> /b, permissions [read] -> [read, write]',
    ],
    [{ kind: 'user.moved', user: 'alice', from: 'acme', to: 'beta', fields: [] }, 'beta: move user alice from acme'],
    [
      {
        kind: 'user.moved',
        user: 'alice',
        from: 'acme',
        to: 'beta',
        fields: [{ field: 'home', from: '/a', to: '/b' }],
      },
      'beta: move user alice from acme (home /a -> /b)',
    ],
    [
      { kind: 'server.changed', fields: [{ field: 'logLevel', from: 'info', to: 'debug' }] },
      'server: logLevel info -> debug',
    ],
    [{ kind: 'file.added', path: 'README.md' }, 'add file README.md'],
    [{ kind: 'file.removed', path: 'domains/acme/native/x.conf', domain: 'acme' }, 'acme: remove file native/x.conf'],
    [{ kind: 'file.changed', path: 'domains/acme/services.yaml', domain: 'acme' }, 'acme: change file services.yaml'],
  ];
  it.each(cases)('%o', (change, text) => expect(describeChange(change)).toBe(text));

  it('never prints a redacted value', () => {
    expect(describeChange({ kind: 'server.changed', fields: [{ field: 'smtp.password', redacted: true }] })).toBe(
      'server: smtp.password changed',
    );
  });
});

describe('formatValue', () => {
  it('quotes strings with spaces, cuts long values', () => {
    expect(formatValue('a b')).toBe('"a b"');
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
    expect(formatValue('x'.repeat(100))).toHaveLength(40);
  });
});

describe('summarizeChanges', () => {
  const acme: Change[] = [
    { kind: 'user.added', domain: 'acme', user: 'alice' },
    { kind: 'service.changed', domain: 'acme', service: 'sftp-main', fields: [{ field: 'port', from: 22, to: 2222 }] },
  ];

  it('groups by domain', () => {
    expect(summarizeChanges(acme)).toBe('acme: add user alice; sftp-main port 22 -> 2222');
    expect(summarizeChanges([...acme, { kind: 'domain.added', domain: 'beta' }], 200)).toBe(
      'acme: add user alice; sftp-main port 22 -> 2222; beta: add domain',
    );
  });

  it('cuts at maxLen and tells how many were left out', () => {
    const many: Change[] = Array.from({ length: 20 }, (_, i) => ({
      kind: 'user.added',
      domain: 'acme',
      user: `user${i}`,
    }));
    const s = summarizeChanges(many);
    expect(s.length).toBeLessThanOrEqual(72);
    expect(s).toMatch(/^acme: add user user0; add user user1; .*\(\+\d+ more\)$/);
    const shown = s.split('; ').length;
    expect(s).toContain(`(+${20 - shown} more)`);
  });

  it('cuts even a single long change to fit', () => {
    const s = summarizeChanges(
      [
        { kind: 'user.added', domain: 'a'.repeat(100), user: 'x' },
        { kind: 'domain.added', domain: 'b' },
      ],
      40,
    );
    expect(s.length).toBeLessThanOrEqual(40);
    expect(s).toMatch(/…\s\(\+1 more\)$/);
  });

  it('says so when nothing changed', () => {
    expect(summarizeChanges([])).toBe('no changes');
  });
});

import { describe, expect, it } from 'vitest';
import { passesFastCheck } from '../../../src/model/fast-accept.js';
import { parseConfigFile } from '../../../src/model/parse.js';

/**
 * The fast path may only say "no problem" where the canonical check (parseConfigFile, `yaml`)
 * also finds none. Each case below asserts that implication, and the typical files assert that
 * the fast path does answer yes (a fast path that always said no would pass the implication).
 */
const USER = 'domains/acme/users/alice.yaml';
const DOMAIN = 'domains/acme/domain.yaml';

function canonicalOk(path: string, text: string): boolean {
  return parseConfigFile(path, text).problems.length === 0;
}

function agree(path: string, text: string): { fast: boolean; canonical: boolean } {
  const fast = passesFastCheck(path, text);
  const canonical = canonicalOk(path, text);
  if (fast && !canonical)
    throw new Error(
      `fast path accepted what the canonical check refuses: ${path}:\n${text}\n${JSON.stringify(parseConfigFile(path, text).problems)}`,
    );
  return { fast, canonical };
}

const TYPICAL_USER =
  'name: alice\npasswordHash: "$2b$12$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"\nhome: /data/alice\npermissions: [read, write]\n';
const TYPICAL_DOMAIN = 'name: acme\nenabled: true\ndescription: the acme domain # a comment\n';

describe('passesFastCheck', () => {
  it('answers yes for the files a config repo is made of', () => {
    for (const [path, text] of [
      [USER, TYPICAL_USER],
      [USER, "# alice\nname: 'alice'\nhome: /data/alice\npermissions:\n  - read\n  - write\nquota: 100\n"],
      [USER, ''],
      [DOMAIN, TYPICAL_DOMAIN],
      [DOMAIN, 'enabled: false\n'],
    ] as const) {
      expect(agree(path, text)).toEqual({ fast: true, canonical: true });
    }
  });

  it('answers no for other files: services, triggers, server.yaml, verbatim files', () => {
    for (const path of [
      'domains/acme/services.yaml',
      'domains/acme/triggers.yaml',
      'server.yaml',
      'domains/acme/notes.yaml',
      'native/x.yaml',
    ]) {
      expect(passesFastCheck(path, 'name: x\n')).toBe(false);
    }
  });

  it.each([
    ['a wrong name', 'name: bob\n'],
    ['a number where a string belongs', 'name: alice\nhome: 12\n'],
    ['permissions not a list', 'permissions: read\n'],
    ['a list at the top', '- a\n- b\n'],
    ['a duplicate key', 'home: /a\nhome: /b\n'],
    ['a YAML syntax error', 'home: [a, b\n'],
    ['a tab', 'name: alice\n\thome: /a\n'],
    ['an anchor and alias', 'home: &h /a\npasswordHash: *h\n'],
    ['a tag', 'home: !!str /a\n'],
    ['a block scalar', 'home: |\n  /a\n'],
    ['a flow mapping', 'x: {a: 1}\n'],
    ['a backslash escape', 'home: "/a\\tb"\n'],
    ['a document marker', '---\nname: alice\n'],
    ['non-ASCII', 'home: /données\n'],
    ['a very long line', `home: /${'a'.repeat(1200)}\n`],
    ['CRLF line ends', 'name: alice\r\nhome: /a\r\n'],
  ])('answers no (the canonical check decides) for %s', (_what, text) => {
    expect(agree(USER, text).fast).toBe(false);
  });

  it.each([
    ['0b11 (a number to js-yaml, a string to yaml)', 'name: alice\nhome: 0b11\n', false, true],
    ['-0x1 (a number to js-yaml, a string to yaml)', 'name: alice\nhome: -0x1\n', false, true],
    ['-.5e+3 (a string to js-yaml, a number to yaml)', 'name: alice\nhome: -.5e+3\n', false, false],
    ['1_000 (a string to both)', 'name: alice\nhome: 1_000\n', true, true],
    ['yes (a string to both in YAML 1.2)', 'name: alice\nhome: yes\n', true, true],
    ['a quoted "true"', 'name: alice\nhome: "true"\n', false, true],
    ['an empty quoted string', 'name: alice\nhome: ""\n', false, true],
    ['2001-12-14 (no timestamps in the core schema)', 'name: alice\nhome: 2001-12-14\n', true, true],
    ['.inf in a list of strings', 'permissions: [read, .inf]\n', false, false],
    ['enabled: yes in domain.yaml', 'enabled: yes\n', false, false],
  ])('plain scalars the two parsers resolve differently: %s', (_what, text, fast, canonical) => {
    const path = text.startsWith('enabled') ? DOMAIN : USER;
    expect(agree(path, text)).toEqual({ fast, canonical });
  });

  // Each guard of fast-accept.ts was added after a run of this loop found a file js-yaml accepts
  // and `yaml` refuses (an unclosed quote continued at column 0, `]#`, a flow sequence over two
  // lines, an empty sequence entry); 900,000 mutations over 5 seeds found none after them.
  it('never accepts what the canonical check refuses, over 20,000 mutated files', () => {
    // A seeded PRNG (mulberry32), so a failure is reproducible.
    let seed = 0x5eed;
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const alphabet = [
      ' ',
      ' ',
      '\n',
      ':',
      '-',
      '[',
      ']',
      ',',
      '"',
      "'",
      '#',
      'a',
      '1',
      '0',
      '.',
      '~',
      'e',
      '+',
      '_',
      'x',
      'o',
      'b',
      'n',
      'u',
      'l',
      'T',
      'y',
      '  ',
      '- ',
      ': ',
      '\n  ',
      '\n- ',
      '$',
      '/',
      '=',
    ];
    const seeds: [string, string][] = [
      [USER, TYPICAL_USER],
      [USER, 'name: alice\nhome: /data/alice\npermissions:\n  - read\n  - write\n'],
      [USER, 'name: \'alice\'\npasswordHash: "$2b$x"\nextra: [1, 2.5, null, true]\n'],
      [
        USER,
        '# user\n"name": alice # x\n\'home\': "/a: b"\npermissions: ["read", \'write\']\nmeta:\n  a:\n    b: [c, d]\n  e: ~\n  f:\n  - g\n  - h: i\n    j: k\n',
      ],
      [DOMAIN, TYPICAL_DOMAIN],
      [DOMAIN, 'name: acme\nenabled: false\nlimits:\n  sessions: 10\n  tags: [a, b]\n'],
    ];
    let fastYes = 0;
    let canonicalYes = 0;
    for (let i = 0; i < 20_000; i++) {
      const [path, base] = seeds[i % seeds.length]!;
      let text = base;
      const edits = 1 + Math.floor(rand() * 5);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rand() * (text.length + 1));
        const op = rand();
        const piece = alphabet[Math.floor(rand() * alphabet.length)]!;
        if (op < 0.4) text = text.slice(0, at) + piece + text.slice(at);
        else if (op < 0.7) text = text.slice(0, at) + text.slice(at + 1);
        else text = text.slice(0, at) + piece + text.slice(at + piece.length);
      }
      const r = agree(path, text);
      if (r.fast) fastYes++;
      if (r.canonical) canonicalYes++;
    }
    // The mutations must exercise both answers, or the loop proves nothing.
    expect(fastYes).toBeGreaterThan(2_000);
    expect(canonicalYes - fastYes).toBeGreaterThan(100);
  });
});

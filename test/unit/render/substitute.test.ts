import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Service } from '../../../src/model/types.js';
import { parseIpMap, reverseIpMap } from '../../../src/render/ip-map.js';
import { substituteIp, substituteServices, substituteText } from '../../../src/render/substitute.js';

const map = parseIpMap({ '10.0.0.5': '10.1.0.5', '2001:db8::5': '2001:db8:1::5', '192.168.1.1': '172.16.0.1' });
const sub = (text: string): string => substituteText(text, map).text;

describe('substituteIp (structured field)', () => {
  it('compares as addresses and writes the target as written in the map', () => {
    expect(substituteIp('10.0.0.5', map)).toBe('10.1.0.5');
    expect(substituteIp('2001:DB8:0:0::5', map)).toBe('2001:db8:1::5');
    expect(substituteIp('2001:0db8::0005', map)).toBe('2001:db8:1::5');
    expect(substituteIp('10.0.0.50', map)).toBe('10.0.0.50');
    expect(substituteIp('10.0.0.05', map)).toBe('10.0.0.05');
    expect(substituteIp('not an ip', map)).toBe('not an ip');
  });

  it('substitutes IPv4-mapped addresses through their IPv4 entry and keeps zones', () => {
    expect(substituteIp('::ffff:10.0.0.5', map)).toBe('::ffff:10.1.0.5');
    expect(substituteIp('::ffff:a00:5', map)).toBe('::ffff:10.1.0.5');
    expect(substituteIp('::10.0.0.5', map)).toBe('::10.0.0.5');
    const ll = parseIpMap({ 'fe80::1': 'fe80::2' });
    expect(substituteIp('fe80::1%eth0', ll)).toBe('fe80::2%eth0');
  });
});

describe('substituteServices', () => {
  it('returns new objects and leaves the input alone', () => {
    const services: Service[] = [
      { name: 'sftp', protocol: 'sftp', ip: '10.0.0.5', port: 22, banner: 'x' },
      { name: 'ftp', protocol: 'ftp', ip: '10.0.0.9', port: 21 },
    ];
    const frozen = structuredClone(services);
    const out = substituteServices(services, map);
    expect(services).toEqual(frozen);
    expect(out).toEqual([{ ...frozen[0], ip: '10.1.0.5' }, frozen[1]]);
    expect(out[0]).not.toBe(services[0]);
    expect(out[1]).not.toBe(services[1]);
  });
});

describe('substituteText: IPv4 tokens', () => {
  it.each([
    ['listen 10.0.0.5', 'listen 10.1.0.5'],
    ['10.0.0.5:2121', '10.1.0.5:2121'],
    ['bind=10.0.0.5;', 'bind=10.1.0.5;'],
    ['address:10.0.0.5', 'address:10.1.0.5'],
    ['"10.0.0.5"', '"10.1.0.5"'],
    ['at 10.0.0.5.', 'at 10.1.0.5.'],
    ['10.0.0.5/32', '10.1.0.5/32'],
    ['10.0.0.5,10.0.0.5', '10.1.0.5,10.1.0.5'],
    ['ip10.0.0.5', 'ip10.1.0.5'],
  ])('%s -> %s', (input, output) => {
    expect(sub(input)).toBe(output);
  });

  it.each(['10.0.0.50', '110.0.0.5', '10.0.0.5.1', '1.10.0.0.5', '10.0.0.05', '210.0.0.5', '10.0.0.55:21'])(
    'leaves %s alone',
    (input) => {
      expect(sub(input)).toBe(input);
    },
  );

  it('counts replacements', () => {
    expect(substituteText('a 10.0.0.5 b 10.0.0.5 c 192.168.1.1 d 10.0.0.50', map)).toEqual({
      text: 'a 10.1.0.5 b 10.1.0.5 c 172.16.0.1 d 10.0.0.50',
      count: 3,
    });
  });

  it('returns the same string and count 0 when nothing matches', () => {
    const text = 'nothing here 10.0.0.6';
    const r = substituteText(text, map);
    expect(r.text).toBe(text);
    expect(r.count).toBe(0);
  });
});

describe('substituteText: IPv6', () => {
  it.each([
    ['listen 2001:db8::5', 'listen 2001:db8:1::5'],
    ['[2001:db8::5]:22', '[2001:db8:1::5]:22'],
    ['[2001:DB8:0:0::5]:22', '[2001:db8:1::5]:22'],
    ['2001:0db8:0000:0000:0000:0000:0000:0005;', '2001:db8:1::5;'],
    ['ListenAddress 2001:db8::5.', 'ListenAddress 2001:db8:1::5.'],
    ['::ffff:10.0.0.5', '::ffff:10.1.0.5'],
    ['[::ffff:10.0.0.5]:21', '[::ffff:10.1.0.5]:21'],
  ])('%s -> %s', (input, output) => {
    expect(sub(input)).toBe(output);
  });

  it.each([
    '2001:db8::50',
    '2001:db8::5:22', // unbracketed port: a different address
    '2001:db8::5::1',
    'x2001:db8::5',
    '2001:db8::5_a',
    'a2001:db8::5',
    '64:ff9b::10.0.0.5', // an IPv6 address, not the IPv4 one inside it
    '::10.0.0.5',
  ])('leaves %s alone', (input) => {
    expect(sub(input)).toBe(input);
  });

  it('keeps a zone after the address', () => {
    expect(substituteText('fe80::1%eth0', parseIpMap({ 'fe80::1': 'fe80::2' })).text).toBe('fe80::2%eth0');
  });

  it('does not read C++ scopes as addresses', () => {
    expect(substituteText('std::5 ad::5', parseIpMap({ '::5': '::6', 'ad::5': 'ad::6' })).text).toBe('std::5 ad::6');
  });
});

describe('substituteText: scale', () => {
  it('is linear-ish on large inputs, including long hex runs', () => {
    const line = 'domain example-%d.com listen 10.0.0.5:2121 backup 10.0.0.50 v6 [2001:db8::5]:22 # note\n';
    const big = Array.from({ length: 20000 }, (_, i) => line.replace('%d', String(i))).join('') + 'a'.repeat(1_000_000);
    const t0 = performance.now();
    const r = substituteText(big, map);
    const ms = performance.now() - t0;
    expect(r.count).toBe(40000);
    expect(ms).toBeLessThan(2000);
  });
});

// ---- properties -------------------------------------------------------------------------------

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const group = fc.nat(0xffff);
const ipv6Parts = fc.array(group, { minLength: 8, maxLength: 8 });

/** Several spellings of the same IPv6 address. */
function spellings(parts: number[]): string[] {
  const full = parts.map((p) => p.toString(16).padStart(4, '0')).join(':');
  const short = parts.map((p) => p.toString(16)).join(':');
  const upper = full.toUpperCase();
  // compress the longest run of zeros, if any
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (parts[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && parts[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const out = [full, short, upper];
  if (best >= 0) {
    const h = (xs: number[]): string => xs.map((p) => p.toString(16)).join(':');
    out.push(`${h(parts.slice(0, best))}::${h(parts.slice(best + bestLen))}`);
  }
  return out;
}

// Separators that are neither digits, dots, hex letters nor colons.
const sep = fc.constantFrom(' ', '\n', ';', ',', '"', "'", '=', '/', '(', ')', '\t', ' x ', 'listen ', ' # ');
// For IPv6 a letter touching the address makes it part of a longer word, so no letters at the ends.
const sep6 = sep.filter((s) => !/^[A-Za-z_]|[A-Za-z_]$/.test(s));
const filler = fc.stringMatching(/^[ g-zG-Z;,=\n#\-_/]{0,20}$/);

describe('substituteText properties', () => {
  it('never changes text that contains no mapped address', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-ascii', maxLength: 200 }), (text) => {
        fc.pre(!text.includes('10.0.0.5') && !text.includes('192.168.1.1') && !/2001:db8|::ffff/i.test(text));
        expect(substituteText(text, map).text).toBe(text);
      }),
      { numRuns: 500 },
    );
    // also random addresses that are not in the map
    fc.assert(
      fc.property(fc.array(fc.tuple(filler, ipv4), { maxLength: 10 }), (pieces) => {
        const text = pieces.map(([f, ip]) => f + ip).join(' ');
        fc.pre(!pieces.some(([, ip]) => ip === '10.0.0.5' || ip === '192.168.1.1'));
        expect(substituteText(text, map).text).toBe(text);
      }),
    );
  });

  it('replaces a mapped IPv4 between separators and never next to a digit', () => {
    fc.assert(
      fc.property(ipv4, ipv4, sep, sep, fc.integer({ min: 0, max: 9 }), (a, b, x, y, d) => {
        const m = parseIpMap({ [a]: b });
        expect(substituteText(`${x}${a}${y}`, m).text).toBe(`${x}${b}${y}`);
        expect(substituteText(`${x}${a}:2121${y}`, m).text).toBe(`${x}${b}:2121${y}`);
        for (const t of [`${x}${d}${a}${y}`, `${x}${a}${d}${y}`, `${x}${a}.${d}${y}`, `${x}.${a}${y}`]) {
          expect(substituteText(t, m).text).toBe(t);
        }
      }),
    );
  });

  it('matches every written form of an IPv6 address, bare or bracketed', () => {
    fc.assert(
      fc.property(ipv6Parts, ipv6Parts, sep6, sep6, fc.nat(65535), (pa, pb, x, y, port) => {
        const a = spellings(pa);
        const b = spellings(pb)[1]!;
        const m = parseIpMap({ [a[0]!]: b });
        for (const form of a) {
          expect(substituteIp(form, m)).toBe(b);
          expect(substituteText(`${x}${form}${y}`, m).text).toBe(`${x}${b}${y}`);
          expect(substituteText(`${x}[${form}]:${port}${y}`, m).text).toBe(`${x}[${b}]:${port}${y}`);
        }
      }),
    );
  });

  it('is idempotent when no target is itself a production address', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(ipv4, { minLength: 2, maxLength: 8 }),
        fc.array(fc.tuple(filler, fc.nat(20)), { maxLength: 30 }),
        (ips, pieces) => {
          const half = Math.floor(ips.length / 2);
          const prod = ips.slice(0, half);
          const standby = ips.slice(half);
          const m = parseIpMap(Object.fromEntries(prod.map((p, i) => [p, standby[i % standby.length]!])));
          const text = pieces.map(([f, i]) => f + ips[i % ips.length]).join(' ');
          const once = substituteText(text, m).text;
          expect(substituteText(once, m).text).toBe(once);
          for (const p of prod) expect(once.split(/[^0-9.]+/)).not.toContain(p);
        },
      ),
    );
  });

  it('reverse(forward(x)) == x for reversible maps', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(ipv4, { minLength: 2, maxLength: 10 }),
        fc.uniqueArray(
          ipv6Parts.map((p) => spellings(p)[3] ?? spellings(p)[1]!),
          { minLength: 0, maxLength: 4, selector: (s) => s.toLowerCase() },
        ),
        fc.array(fc.tuple(filler, fc.nat(50), fc.boolean()), { maxLength: 30 }),
        (v4, v6, pieces) => {
          const pairs = (xs: string[]): [string, string][] => {
            const half = Math.floor(xs.length / 2);
            return xs.slice(0, half).map((p, i) => [p, xs[half + i]!]);
          };
          const entries = [...pairs(v4), ...pairs(v6)];
          fc.pre(entries.length > 0);
          const fwd = parseIpMap(Object.fromEntries(entries));
          const rev = reverseIpMap(fwd);
          // x is in production's terms: only production addresses (as written in the map) and filler
          const prod = entries.map(([p]) => p);
          const x = pieces
            .map(([f, i, br]) => {
              const ip = prod[i % prod.length]!;
              return `${f} ${br && ip.includes(':') ? `[${ip}]:22` : ip}`;
            })
            .join('\n');
          const there = substituteText(x, fwd).text;
          expect(substituteText(there, rev).text).toBe(x);
        },
      ),
    );
  });
});

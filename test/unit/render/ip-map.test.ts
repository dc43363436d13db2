import { describe, expect, it } from 'vitest';
import { ConfigError, GitfailoverError } from '../../../src/errors.js';
import { parseIp, parseIpMap, reverseIpMap, sameIp } from '../../../src/render/ip-map.js';

function thrown(fn: () => unknown): GitfailoverError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GitfailoverError) return err;
    throw err;
  }
  throw new Error('expected a GitfailoverError');
}

describe('parseIp', () => {
  it('reads strict dotted-decimal IPv4 only', () => {
    expect(parseIp('10.0.0.5')).toEqual({ family: 'ipv4', key: '10.0.0.5' });
    for (const bad of ['10.0.0.05', '010.0.0.5', '10.5', '0x0a.0.0.5', '256.0.0.1', '10.0.0', '10.0.0.5.1', '']) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('compares IPv6 spellings as addresses', () => {
    expect(parseIp('2001:DB8:0:0::5')!.key).toBe(parseIp('2001:db8::5')!.key);
    expect(parseIp('::5')!.key).toBe(parseIp('0:0::5')!.key);
    expect(sameIp('2001:0db8:0000:0000:0000:0000:0000:0005', '2001:db8::5')).toBe(true);
    expect(sameIp('2001:db8::5', '2001:db8::50')).toBe(false);
    expect(parseIp('1::2:3:4:5:6:7:8')).toBeUndefined();
    expect(parseIp('2001:db8::5:')).toBeUndefined();
  });

  it('recognises IPv4-mapped IPv6 in dotted and hex form, but not the IPv4-compatible form', () => {
    expect(parseIp('::ffff:10.0.0.5')).toMatchObject({ family: 'ipv6', mappedV4: '10.0.0.5' });
    expect(parseIp('::FFFF:a00:5')).toMatchObject({ family: 'ipv6', mappedV4: '10.0.0.5' });
    const compat = parseIp('::10.0.0.5')!;
    expect(compat.mappedV4).toBeUndefined();
    expect(compat.key).toBe(parseIp('::a00:5')!.key);
    expect(parseIp('::ffff:10.0.0.05')).toBeUndefined();
  });

  it('keeps a zone apart from the address', () => {
    expect(parseIp('fe80::1%eth0')).toMatchObject({ family: 'ipv6', key: parseIp('fe80::1')!.key, zone: 'eth0' });
  });
});

describe('parseIpMap', () => {
  it('builds a lookup by address that keeps the target as written', () => {
    const map = parseIpMap({ '10.0.0.5': '10.1.0.5', '2001:DB8:0:0::5': '2001:DB8:1::5' });
    expect(map.entries).toHaveLength(2);
    expect(map.byKey.get(parseIp('2001:db8::5')!.key)!.to).toBe('2001:DB8:1::5');
    expect(map.byKey.get('10.0.0.5')!.to).toBe('10.1.0.5');
  });

  it('refuses a value that is not an address, naming the field and file', () => {
    const err = thrown(() => parseIpMap({ '10.0.0.5': 'standby' }, 'gitfailover.yaml'));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('E_CONFIG');
    expect(err.location).toEqual({ file: 'gitfailover.yaml', field: 'substitution.ips.10.0.0.5' });
    expect(err.message).toContain('gitfailover.yaml');
    expect(err.message).toContain('substitution.ips.10.0.0.5');
    expect(thrown(() => parseIpMap({ 'prod-host': '10.1.0.5' })).location.field).toBe('substitution.ips.prod-host');
    expect(thrown(() => parseIpMap({ '10.0.0.05': '10.1.0.5' })).code).toBe('E_CONFIG');
  });

  it('maps IPv4 to IPv4 and IPv6 to IPv6 only', () => {
    for (const ips of [{ '10.0.0.5': '2001:db8:1::5' }, { '2001:db8::5': '10.1.0.5' }] as Record<string, string>[]) {
      const err = thrown(() => parseIpMap(ips));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.location.field).toBe(`substitution.ips.${Object.keys(ips)[0]}`);
    }
  });

  it('refuses IPv4-mapped addresses and zones in the map', () => {
    expect(thrown(() => parseIpMap({ '::ffff:10.0.0.5': '::ffff:10.1.0.5' })).message).toContain('10.0.0.5');
    expect(thrown(() => parseIpMap({ '2001:db8::5': '::ffff:10.1.0.5' })).code).toBe('E_CONFIG');
    expect(thrown(() => parseIpMap({ 'fe80::1%eth0': 'fe80::2' })).code).toBe('E_CONFIG');
  });

  it('accepts the same pair spelled twice, refuses one address with two targets', () => {
    expect(parseIpMap({ '2001:db8::5': '2001:db8:1::5', '2001:DB8::5': '2001:db8:1:0::5' }).entries).toHaveLength(1);
    const err = thrown(() => parseIpMap({ '2001:db8::5': '2001:db8:1::5', '2001:DB8::5': '2001:db8:2::5' }));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('E_SUBST_AMBIGUOUS');
  });
});

describe('reverseIpMap', () => {
  it('swaps production and standby addresses', () => {
    const rev = reverseIpMap(parseIpMap({ '10.0.0.5': '10.1.0.5', '2001:db8::5': '2001:db8:1::5' }));
    expect(rev.entries.map((e) => [e.from, e.to])).toEqual([
      ['10.1.0.5', '10.0.0.5'],
      ['2001:db8:1::5', '2001:db8::5'],
    ]);
    expect(rev.byKey.get('10.1.0.5')!.to).toBe('10.0.0.5');
  });

  it('allows an address mapped to itself', () => {
    expect(reverseIpMap(parseIpMap({ '10.0.0.5': '10.0.0.5' })).entries).toHaveLength(1);
  });

  it('refuses two production addresses sharing a standby address', () => {
    const err = thrown(() => reverseIpMap(parseIpMap({ '10.0.0.5': '10.1.0.5', '10.0.0.6': '10.1.0.5' })));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('E_SUBST_AMBIGUOUS');
    expect(err.kind).toBe('stalling');
    // compared as addresses, not spellings
    expect(
      thrown(() => reverseIpMap(parseIpMap({ '2001:db8::5': '2001:db8:1::5', '2001:db8::6': '2001:DB8:1:0::5' }))).code,
    ).toBe('E_SUBST_AMBIGUOUS');
  });

  it("refuses a standby address that is another entry's production address", () => {
    for (const ips of [
      { '10.0.0.5': '10.0.0.6', '10.0.0.6': '10.1.0.6' },
      { '10.0.0.5': '10.0.0.6', '10.0.0.6': '10.0.0.5' },
    ]) {
      const err = thrown(() => reverseIpMap(parseIpMap(ips)));
      expect(err).toBeInstanceOf(ConfigError);
      expect(err.code).toBe('E_SUBST_AMBIGUOUS');
    }
  });
});

import ipaddr from 'ipaddr.js';
import { ConfigError, type Location } from '../errors.js';

/**
 * The node's IP substitution map (`substitution.ips`: production IP -> this node's IP), parsed
 * once and looked up by address, not by spelling: `2001:DB8:0:0::5` and `2001:db8::5` are the same
 * key. The replacement is always the target exactly as written in the node file.
 *
 * Decisions (DESIGN.md "IP substitution"):
 *  - IPv4 is strict dotted decimal (`10.0.0.5`). Leading zeros (`10.0.0.05`), hex and short forms
 *    (`10.5`) are refused in the map and never matched elsewhere: C's inet_aton reads `010` as octal,
 *    so such a spelling does not name one address unambiguously.
 *  - IPv4 maps to IPv4 and IPv6 to IPv6.
 *  - IPv4-mapped IPv6 (`::ffff:10.0.0.5`) is the IPv4 host seen through an IPv6 socket, so it is not
 *    a key of its own: the map refuses it on either side (write `10.0.0.5`), and a mapped address met
 *    in a field or text is looked up by its IPv4 part and written back as `::ffff:<target>`.
 *    The deprecated IPv4-compatible form `::10.0.0.5` is an ordinary IPv6 address (`::a00:5`).
 *  - Zone ids (`fe80::1%eth0`) are refused in the map; in fields and text the zone is kept.
 */

export type IpFamily = 'ipv4' | 'ipv6';

export interface ParsedIp {
  family: IpFamily;
  /** The canonical spelling used as lookup key (IPv4 dotted decimal, IPv6 eight full hex groups). */
  key: string;
  /** For an IPv4-mapped IPv6 address: the key of its IPv4 part. */
  mappedV4?: string;
  /** `%zone` suffix of an IPv6 address, without the `%`. */
  zone?: string;
}

export interface IpMapping {
  /** As written in the node file. */
  from: string;
  to: string;
  family: IpFamily;
  fromKey: string;
  toKey: string;
}

export interface IpMap {
  readonly entries: readonly IpMapping[];
  /** fromKey -> mapping */
  readonly byKey: ReadonlyMap<string, IpMapping>;
}

/** A map that substitutes nothing. */
export const EMPTY_IP_MAP: IpMap = { entries: [], byKey: new Map() };

/** A substitution map that cannot be applied (or reversed) unambiguously: exit code 2. */
export class SubstitutionAmbiguousError extends ConfigError {
  override readonly code: string = 'E_SUBST_AMBIGUOUS';
  constructor(message: string, location: Location = {}, data: Record<string, unknown> = {}) {
    super(message, location, data);
    this.name = 'SubstitutionAmbiguousError';
  }
}

const STRICT_IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;
const ZONE = /^[0-9A-Za-z_.~-]+$/;

/** True when `text` is a strict dotted-decimal IPv4 address (no leading zeros). */
export function isStrictIpv4(text: string): boolean {
  return STRICT_IPV4.test(text);
}

/**
 * Parse one address as written (no surrounding brackets or whitespace), or undefined when it is not
 * an address by the rules above. Never throws.
 */
export function parseIp(text: string): ParsedIp | undefined {
  if (text.length === 0 || text.length > 100) return undefined;
  if (!text.includes(':')) return isStrictIpv4(text) ? { family: 'ipv4', key: text } : undefined;

  let addr = text;
  let zone: string | undefined;
  const pct = text.indexOf('%');
  if (pct >= 0) {
    zone = text.slice(pct + 1);
    addr = text.slice(0, pct);
    if (!ZONE.test(zone)) return undefined;
  }
  if (!IPV6_CHARS.test(addr)) return undefined;
  // An embedded IPv4 tail is read strictly here and handed to ipaddr.js as two hex groups: ipaddr.js
  // accepts octal/hex octets and reads `::a.b.c.d` as IPv4-mapped, neither of which we want.
  if (addr.includes('.')) {
    const colon = addr.lastIndexOf(':');
    const tail = addr.slice(colon + 1);
    if (!isStrictIpv4(tail)) return undefined;
    const o = tail.split('.').map(Number) as [number, number, number, number];
    addr = `${addr.slice(0, colon + 1)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  if (!ipaddr.IPv6.isValid(addr)) return undefined;
  let v6: ipaddr.IPv6;
  try {
    v6 = ipaddr.IPv6.parse(addr);
  } catch {
    return undefined;
  }
  const parsed: ParsedIp = { family: 'ipv6', key: v6.toNormalizedString() };
  if (v6.isIPv4MappedAddress()) parsed.mappedV4 = v6.toIPv4Address().toString();
  if (zone !== undefined) parsed.zone = zone;
  return parsed;
}

/** Two spellings of the same address (`2001:DB8:0:0::5` and `2001:db8::5`). */
export function sameIp(a: string, b: string): boolean {
  const pa = parseIp(a);
  const pb = parseIp(b);
  return pa !== undefined && pb !== undefined && pa.key === pb.key && pa.zone === pb.zone;
}

/**
 * Validate the node file's `substitution.ips` and build the lookup. Every key and value must be an
 * address of the same family; an address listed twice with different targets is ambiguous.
 * `file` names the node file in error messages and locations.
 */
export function parseIpMap(ips: Readonly<Record<string, string>>, file?: string): IpMap {
  const entries: IpMapping[] = [];
  const byKey = new Map<string, IpMapping>();
  const where = file === undefined ? '' : `${file}: `;

  for (const [from, to] of Object.entries(ips)) {
    const field = `substitution.ips.${from}`;
    const loc: Location = { field, ...(file === undefined ? {} : { file }) };
    const pf = checkSide(from, 'production address', field, where, loc);
    const pt = checkSide(to, 'replacement', field, where, loc);
    if (pf.family !== pt.family) {
      throw new ConfigError(
        `${where}${field}: ${from} is an ${label(pf.family)} address but its replacement ${to} is ${label(pt.family)}; map IPv4 to IPv4 and IPv6 to IPv6`,
        loc,
        { from, to },
      );
    }
    const existing = byKey.get(pf.key);
    if (existing) {
      if (existing.toKey === pt.key) continue; // the same pair written twice: harmless
      throw new SubstitutionAmbiguousError(
        `${where}${field}: ${from} is the same address as substitution.ips.${existing.from}, which maps to ${existing.to}, not ${to}; keep one entry`,
        loc,
        { from, to, other: existing.from, otherTo: existing.to },
      );
    }
    const mapping: IpMapping = { from, to, family: pf.family, fromKey: pf.key, toKey: pt.key };
    entries.push(mapping);
    byKey.set(pf.key, mapping);
  }
  return { entries, byKey };
}

function checkSide(value: string, what: string, field: string, where: string, loc: Location): ParsedIp {
  const p = parseIp(value);
  if (p === undefined) {
    const hint = /^[0-9.]+$/.test(value) ? ' (write IPv4 as four decimal numbers 0-255 without leading zeros)' : '';
    throw new ConfigError(`${where}${field}: ${what} "${value}" is not an IP address${hint}`, loc, { value });
  }
  if (p.zone !== undefined) {
    throw new ConfigError(
      `${where}${field}: ${what} "${value}" carries a zone id (%${p.zone}); write the address without it`,
      loc,
      { value },
    );
  }
  if (p.mappedV4 !== undefined) {
    throw new ConfigError(
      `${where}${field}: ${what} "${value}" is an IPv4-mapped IPv6 address; write the IPv4 address ${p.mappedV4} instead (mapped forms are substituted through it)`,
      loc,
      { value },
    );
  }
  return p;
}

function label(f: IpFamily): string {
  return f === 'ipv4' ? 'IPv4' : 'IPv6';
}

/** The mapping whose production address equals `key` (a ParsedIp key), if any. */
export function lookupKey(map: IpMap, key: string): IpMapping | undefined {
  return map.byKey.get(key);
}

/**
 * The map a promoted node records with: standby address -> production address, so the repo keeps
 * production's terms. Refused (E_SUBST_AMBIGUOUS) when two production addresses share a standby
 * address, or when a standby address is also another entry's production address: a recorded
 * occurrence of such an address could mean either.
 */
export function reverseIpMap(map: IpMap): IpMap {
  const entries: IpMapping[] = [];
  const byKey = new Map<string, IpMapping>();
  for (const m of map.entries) {
    const clash = byKey.get(m.toKey);
    if (clash) {
      throw new SubstitutionAmbiguousError(
        `substitution.ips cannot be reversed: ${clash.to} and ${m.from} both map to ${m.to}, so a recorded ${m.to} could be either`,
        { field: `substitution.ips.${m.from}` },
        { to: m.to, from: [clash.to, m.from] },
      );
    }
    const other = map.byKey.get(m.toKey);
    if (other && other !== m) {
      throw new SubstitutionAmbiguousError(
        `substitution.ips cannot be reversed: ${m.to} (the replacement of ${m.from}) is also a production address (substitution.ips.${other.from}), so a recorded ${m.to} is ambiguous`,
        { field: `substitution.ips.${m.from}` },
        { from: m.from, to: m.to, other: other.from },
      );
    }
    const r: IpMapping = { from: m.to, to: m.from, family: m.family, fromKey: m.toKey, toKey: m.fromKey };
    entries.push(r);
    byKey.set(r.fromKey, r);
  }
  return { entries, byKey };
}

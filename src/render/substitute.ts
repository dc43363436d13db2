import type { Service } from '../model/types.js';
import { parseIp, type IpMap, type ParsedIp } from './ip-map.js';

/**
 * Apply the IP substitution map to a structured value, a service list or a text file.
 * Whole addresses only (DESIGN.md): `10.0.0.5` never touches `10.0.0.50`.
 */

/** The replacement for one parsed address, or undefined when the map does not name it. */
function replacementFor(p: ParsedIp, map: IpMap): string | undefined {
  const direct = map.byKey.get(p.key);
  if (direct) return direct.to;
  // ::ffff:a.b.c.d is the IPv4 host a.b.c.d (see ip-map.ts): substitute through the IPv4 entry.
  if (p.mappedV4 !== undefined) {
    const v4 = map.byKey.get(p.mappedV4);
    if (v4) return `::ffff:${v4.to}`;
  }
  return undefined;
}

/**
 * A structured field (a service's `ip`): compared as an address. Returns the target as written in
 * the map (a `%zone` suffix is kept), or `ip` itself when it is not a mapped address.
 */
export function substituteIp(ip: string, map: IpMap): string {
  if (map.entries.length === 0) return ip;
  const p = parseIp(ip);
  if (p === undefined) return ip;
  const to = replacementFor(p, map);
  if (to === undefined) return ip;
  return p.zone === undefined ? to : `${to}%${p.zone}`;
}

/** New service objects with each `ip` substituted; the input is not changed. */
export function substituteServices(services: readonly Service[], map: IpMap): Service[] {
  return services.map((s) => (typeof s.ip === 'string' ? { ...s, ip: substituteIp(s.ip, map) } : { ...s }));
}

export interface TextSubstitution {
  text: string;
  /** How many addresses were replaced. */
  count: number;
}

// One pass over the text: every maximal run of address characters is a candidate; only runs that
// contain `.` or `:` are examined further. Linear in the text (no backtracking on long hex runs).
const RUN = /[0-9A-Fa-f:.]{2,}/g;
// An IPv4 token inside a run: not preceded by a digit or `.`, not followed by a digit or `.digit`.
// Runs are maximal, so the text around a run never holds a digit or `.`, and scanning the run alone
// sees the same neighbours as scanning the whole text would.
const IPV4_TOKEN = /(?<![0-9.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![0-9]|\.[0-9])/g;
// Letters beyond hex and `_`: an IPv6 candidate touching one is part of a longer word (`std::5`).
const WORD_CHAR = /[G-Zg-z_]/;

/**
 * Substitute addresses inside a text file.
 *  - IPv4: a token not preceded by a digit or `.` and not followed by a digit or `.digit`
 *    (`10.0.0.5:2121`, `10.0.0.5;`, `at 10.0.0.5.` match; `10.0.0.50`, `110.0.0.5`, `10.0.0.5.1`
 *    do not).
 *  - IPv6: a whole run of hex digits, `:` and `.` (trailing dots aside, so a sentence may end after
 *    it) that parses as an address, in any spelling, bare or in brackets (`[2001:db8::5]:22`), and
 *    does not touch a letter or `_`. A valid IPv6 run is one address: IPv4-looking text inside it
 *    (`64:ff9b::10.0.0.5`) is not substituted, except through an IPv4-mapped address.
 *    An unbracketed address followed by `:port` is a different (longer) address and not matched.
 */
export function substituteText(text: string, map: IpMap): TextSubstitution {
  if (map.entries.length === 0) return { text, count: 0 };
  let out = '';
  let last = 0;
  let count = 0;
  // Config files repeat the same few addresses: parse each distinct IPv6 candidate once.
  const seen = new Map<string, string | null | undefined>();
  RUN.lastIndex = 0;
  for (let m = RUN.exec(text); m !== null; m = RUN.exec(text)) {
    const run = m[0];
    if (run.length < 2) continue;
    const start = m.index;
    const hasColon = run.includes(':');
    const hasDot = run.includes('.');
    if (!hasColon && !hasDot) continue;

    if (hasColon) {
      let end = run.length;
      while (end > 0 && run.charCodeAt(end - 1) === 0x2e /* . */) end--;
      const candidate = run.slice(0, end);
      // undefined: not an IPv6 address; null: an address the map does not name; else its replacement
      let to = seen.get(candidate);
      if (to === undefined && !seen.has(candidate)) {
        const p = parseIp(candidate);
        to = p === undefined || p.family !== 'ipv6' ? undefined : (replacementFor(p, map) ?? null);
        if (seen.size < 4096) seen.set(candidate, to);
      }
      if (to !== undefined) {
        const before = start > 0 ? text[start - 1]! : '';
        const after = start + end < text.length ? text[start + end]! : '';
        // A zone (`fe80::1%eth0`) is kept as written after the replaced address.
        if (!WORD_CHAR.test(before) && !WORD_CHAR.test(after)) {
          if (to !== null) {
            out += text.slice(last, start) + to;
            last = start + end;
            count++;
          }
        }
        continue;
      }
    }

    if (hasDot && run.length >= 7) {
      IPV4_TOKEN.lastIndex = 0;
      for (let v = IPV4_TOKEN.exec(run); v !== null; v = IPV4_TOKEN.exec(run)) {
        const hit = map.byKey.get(v[0]); // keys are canonical dotted decimal, so the token is its own key
        if (hit === undefined || hit.family !== 'ipv4') continue;
        const at = start + v.index;
        out += text.slice(last, at) + hit.to;
        last = at + v[0].length;
        count++;
      }
    }
  }
  if (count === 0) return { text, count: 0 };
  return { text: out + text.slice(last), count };
}

import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/**
 * The schemas of the config repo's YAML files (DESIGN.md, "default layout"). Every object is
 * loose (passthrough): a server has many more settings than we know of, and unknown fields must
 * be replicated and compared as they are, not refused.
 */

/** A string that names a valid IPv4 (four-part decimal only: `10.5` is refused) or IPv6 address. */
export function isValidIp(ip: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(ip) || ipaddr.IPv6.isValid(ip);
}

/**
 * One spelling per address, so that `::5`, `0:0::5` and `::FFFF:10.0.0.5`/`10.0.0.5` compare
 * equal (IPv4-mapped IPv6 is the IPv4 address). Undefined when `ip` is not a valid address.
 */
export function normalizeIp(ip: string): string | undefined {
  if (!isValidIp(ip)) return undefined;
  const addr = ipaddr.process(ip);
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    return v6.toNormalizedString() + (v6.zoneId ? `%${v6.zoneId}` : '');
  }
  return addr.toNormalizedString();
}

/** 0.0.0.0 / `::`: a service listening on every address of its host. */
export function isWildcardIp(ip: string): boolean {
  return isValidIp(ip) && ipaddr.process(ip).range() === 'unspecified';
}

/** The same on every host, so never substituted. */
export function isLoopbackIp(ip: string): boolean {
  return isValidIp(ip) && ipaddr.process(ip).range() === 'loopback';
}

export const PROTOCOLS = ['sftp', 'ftp', 'ftps', 'https'] as const;

/** server.yaml: free-form global settings, but it must be a mapping. */
export const serverSchema = z.looseObject({});

/** domains/<d>/domain.yaml. `name`, when given, must be the folder's name (checked in parse.ts). */
export const domainSchema = z.looseObject({
  name: z.string({ error: 'must be a string (the domain folder name)' }).min(1).optional(),
  enabled: z.boolean({ error: 'must be true or false' }).default(true),
});

export const serviceSchema = z.looseObject({
  name: z.string({ error: 'is required: a service name' }).min(1, 'must not be empty'),
  protocol: z.enum(PROTOCOLS, { error: `must be one of ${PROTOCOLS.join(', ')}` }),
  ip: z
    .string({ error: 'is required: an IPv4 or IPv6 address' })
    .refine(isValidIp, { error: 'is not a valid IPv4 or IPv6 address' }),
  port: z
    .number({ error: 'is required: a port number from 1 to 65535' })
    .int('must be a whole number from 1 to 65535')
    .min(1, 'must be a port number from 1 to 65535')
    .max(65535, 'must be a port number from 1 to 65535'),
});

/** domains/<d>/services.yaml */
export const servicesFileSchema = z.looseObject({
  services: z.array(serviceSchema, { error: 'must be a list of services' }).default([]),
});

/** domains/<d>/users/<u>.yaml. `name`, when given, must be the file's basename (checked in parse.ts). */
export const userSchema = z.looseObject({
  name: z.string({ error: 'must be a string (the file name without .yaml)' }).min(1).optional(),
  passwordHash: z.string({ error: 'must be a string (a password hash such as $2b$...)' }).optional(),
  home: z.string({ error: 'must be a string (a path)' }).optional(),
  permissions: z.array(z.string({ error: 'must be a string' }), { error: 'must be a list of strings' }).optional(),
});

export type ServerFile = z.output<typeof serverSchema>;
export type DomainFile = z.output<typeof domainSchema>;
export type ServicesFile = z.output<typeof servicesFileSchema>;
export type UserFile = z.output<typeof userSchema>;

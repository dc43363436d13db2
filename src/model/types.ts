/** The config repo, as typed data. Pure: built from file contents by parse.ts, compared by changes.ts. */

export type Protocol = 'sftp' | 'ftp' | 'ftps' | 'https';

export interface Service {
  name: string;
  protocol: Protocol;
  ip: string;
  port: number;
  /** Any further settings of the service are kept and compared as they are. */
  [field: string]: unknown;
}

export interface User {
  name: string;
  passwordHash?: string;
  home?: string;
  permissions?: string[];
  [field: string]: unknown;
}

export interface DomainSettings {
  name: string;
  enabled: boolean;
  [field: string]: unknown;
}

export interface DomainModel {
  name: string;
  /** domain.yaml; undefined when the file is missing or did not parse */
  settings?: DomainSettings;
  /** services.yaml */
  services: Service[];
  /** users/<name>.yaml, by user name */
  users: Map<string, User>;
  /** Every other file of the domain: path relative to the domain folder -> blob id. */
  files: Map<string, string>;
  /**
   * The YAML files parsed into settings/services/users: path relative to the domain folder ->
   * blob id. Lets the change list report an edit that changes no field (a comment, the order of
   * services) as a file change, so such an edit is still replicated.
   */
  layoutFiles?: Map<string, string>;
}

export interface ConfigModel {
  /** server.yaml */
  server?: Record<string, unknown>;
  domains: Map<string, DomainModel>;
  /** Files outside any domain (except server.yaml and .gitfailover/): path -> blob id. */
  files: Map<string, string>;
  /** Blob id of server.yaml (see DomainModel.layoutFiles). */
  serverId?: string;
}

/** One field that differs. Secret-looking fields (passwordHash) carry no values, only that they changed. */
export interface FieldChange {
  /** Dotted path for nested settings: `limits.maxSessions`. */
  field: string;
  from?: unknown;
  to?: unknown;
  /** Set on secret-looking fields: the values are left out on purpose. */
  redacted?: true;
}

/** The structured change list between two trees: what commit messages, plans and events are made of. */
export type Change =
  | { kind: 'domain.added'; domain: string }
  | { kind: 'domain.removed'; domain: string }
  | { kind: 'domain.changed'; domain: string; fields: FieldChange[] }
  | { kind: 'service.added'; domain: string; service: string }
  | { kind: 'service.removed'; domain: string; service: string }
  | { kind: 'service.changed'; domain: string; service: string; fields: FieldChange[] }
  | { kind: 'user.added'; domain: string; user: string }
  | { kind: 'user.removed'; domain: string; user: string }
  | { kind: 'user.changed'; domain: string; user: string; fields: FieldChange[] }
  | { kind: 'user.moved'; user: string; from: string; to: string; fields: FieldChange[] }
  | { kind: 'server.changed'; fields: FieldChange[] }
  | { kind: 'file.added' | 'file.removed' | 'file.changed'; path: string; domain?: string };

import { z } from 'zod';
import { argv, DAY, durationBetween, HOUR, MINUTE } from '../util/schema-primitives.js';
import { triggerSchema } from '../triggers/schema.js';

/**
 * The node file (`gitfailover.yaml`). This one schema gives the TypeScript types (z.infer) and
 * the JSON Schema published in `schema/node-file.schema.json` (see write-schema.ts), so editors
 * check node files against exactly what the loader accepts.
 */

/** Durations are bounded one by one (durationBetween): the range is in the error. */
/** A secret: `env:NAME` or `file:PATH` (resolved by the loader) or, discouraged, a literal. */
export const secret = z.string().min(1).describe('a secret: env:NAME (environment variable) or file:PATH');

const safeName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, ".", "_" and "-", starting with a letter or digit');

export const repoSchema = z
  .object({
    remote: z.string().min(1).describe('git URL of the shared config repo: a path, file://, ssh or https'),
    branch: z.string().min(1).default('main'),
    stateDir: z.string().min(1).describe("the node's own clone, applied commit and journal"),
    auth: z
      .object({
        username: z.string().min(1),
        password: secret.optional(),
        tokenFile: z
          .string()
          .min(1)
          .optional()
          .describe('a file holding the token or password, read again before every fetch and push (rotated tokens)'),
      })
      .strict()
      .refine(
        (a) => (a.password === undefined) !== (a.tokenFile === undefined),
        'give exactly one of password and tokenFile',
      )
      .optional()
      .describe(
        'HTTPS credentials, passed to git through the environment of its own process, never on a command line nor in git config',
      ),
    sshKey: z.string().min(1).optional().describe('SSH remotes: the private deploy key (chmod 600)'),
    knownHosts: z
      .string()
      .min(1)
      .optional()
      .describe("SSH remotes: a known_hosts file with the git server's host key; the only one trusted when set"),
    strictHostKeyChecking: z
      .enum(['yes', 'accept-new'])
      .default('yes')
      .describe(
        'SSH remotes: yes refuses a host key not in knownHosts; accept-new records it the first time (trust on first use)',
      ),
    verify: z
      .object({
        allowedSigners: z
          .string()
          .min(1)
          .optional()
          .describe(
            'a file in git\'s gpg.ssh.allowedSignersFile format (`principal namespaces="git" ssh-ed25519 AAAA...`): the trusted SSH keys',
          ),
        gpgKeyring: z
          .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
          .transform((v) => (typeof v === 'string' ? [v] : v))
          .optional()
          .describe(
            "the trusted OpenPGP public keys (a forge's merge key, such as https://github.com/web-flow.gpg): a keyring file or armored key files, read with gpg --import",
          ),
        anchor: z
          .string()
          .regex(/^([0-9a-f]{40}|[0-9a-f]{64})$/, 'a full commit id (40 lowercase hex digits)')
          .optional()
          .describe(
            'a commit you trust, with its whole history: verification starts above it (for a history that predates signing)',
          ),
      })
      .strict()
      .refine(
        (v) => v.allowedSigners !== undefined || v.gpgKeyring !== undefined,
        'give allowedSigners, gpgKeyring or both',
      )
      .optional()
      .describe(
        'when set, a node applies a target only if every change since the last verified commit is signed by a trusted SSH or OpenPGP key',
      ),
    maxFileSize: z
      .number({ error: 'must be a whole number of bytes between 1 and 1073741824 (1 GiB)' })
      .int('must be a whole number of bytes between 1 and 1073741824 (1 GiB)')
      .min(1, 'must be a whole number of bytes between 1 and 1073741824 (1 GiB)')
      .max(1024 * 1024 * 1024, 'must be a whole number of bytes between 1 and 1073741824 (1 GiB)')
      .optional()
      .describe(
        'bytes; a larger file is refused by validate, left out by record and refused by sync (default 1 MiB; live.maxFileSize is an older name for it)',
      ),
    maxFiles: z
      .number({ error: 'must be a whole number of files between 1 and 100000000' })
      .int('must be a whole number of files between 1 and 100000000')
      .min(1, 'must be a whole number of files between 1 and 100000000')
      .max(100_000_000, 'must be a whole number of files between 1 and 100000000')
      .default(500_000)
      .describe('files in the repo; more are refused by validate, record and sync (default 500,000)'),
  })
  .strict();

export const liveSchema = z
  .object({
    dir: z.string().min(1).describe('the folder the server reads its configuration from'),
    domains: z
      .string()
      .regex(/^[A-Za-z0-9._-]+\/\*$/, 'a folder followed by /*, such as domains/*')
      .refine(
        (g) => !/^\.{1,2}\//.test(g) && !g.startsWith('.gitfailover'),
        'must name a folder inside the live dir followed by /*, such as domains/* ("..", "." and .gitfailover* are not allowed)',
      )
      .default('domains/*'),
    exclude: z
      .array(
        z
          .string()
          .min(1)
          .refine(
            (g) => !g.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(g) && !g.split(/[\\/]/).includes('..'),
            'a glob relative to the live dir: no leading "/" and no ".." segment',
          ),
      )
      .default([])
      .describe('globs never recorded nor replicated'),
    maxFileSize: z
      .number({ error: 'must be a whole number of bytes between 1 and 1073741824 (1 GiB)' })
      .int('must be a whole number of bytes between 1 and 1073741824 (1 GiB)')
      .min(1, 'must be a whole number of bytes between 1 and 1073741824 (1 GiB)')
      .max(1024 * 1024 * 1024, 'must be a whole number of bytes between 1 and 1073741824 (1 GiB)')
      .optional()
      .describe('older name of repo.maxFileSize (used when that is not set)'),
  })
  .strict();

export const recordSchema = z
  .object({
    debounce: durationBetween(0, 10 * MINUTE, 'record at once').default(500),
    retry: durationBetween(10, HOUR).default(1000).describe('first delay of the push retry backoff'),
    retryMax: durationBetween(10, DAY).default(60_000),
    signingKey: z
      .string()
      .min(1)
      .optional()
      .describe(
        'an SSH private key file: every commit this node records is signed with it (for standbys with repo.verify)',
      ),
  })
  .strict()
  .refine((r) => r.retryMax >= r.retry, {
    message: 'must not be shorter than record.retry (the backoff starts at retry and grows up to retryMax)',
    path: ['retryMax'],
  });

export const syncSchema = z
  .object({
    automatic: z.boolean().default(false),
    interval: durationBetween(100, DAY).default(30_000),
    timeout: durationBetween(100, HOUR).default(60_000),
    startAfterSync: z.boolean().default(false),
    disableOnFailure: z.boolean().default(true),
    maxLag: durationBetween(100, 7 * DAY)
      .default(300_000)
      .describe('fire the lag event when behind the remote, or without a primary heartbeat, for longer'),
    driftCheck: durationBetween(100, DAY)
      .default(300_000)
      .describe('how often the standby daemon compares its live dir with the applied commit (drift event)'),
  })
  .strict();

export const substitutionSchema = z
  .object({
    ips: z.record(z.string(), z.string()).default({}).describe("production IP -> this node's IP"),
    files: z.array(z.string().min(1)).default([]).describe('globs of text files to substitute addresses in'),
    vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/), z.string()).default({}),
    keep: z
      .array(z.string().min(1))
      .default([])
      .describe(
        'service IPs this node keeps as they are on purpose (a shared virtual IP); any other IP that ips does not map is reported',
      ),
    strict: z
      .boolean()
      .default(false)
      .describe('refuse a commit with a service IP that ips does not map and keep does not list'),
  })
  .strict();

export const commandsSchema = z
  .object({
    load: argv.optional(),
    start: argv.optional(),
    stop: argv.optional(),
    delete: argv.optional(),
    reload: argv.optional(),
    check: argv.optional(),
    timeout: durationBetween(100, DAY).default(60_000),
  })
  .strict();

export const notifySchema = z
  .object({
    listen: z.string().default('127.0.0.1:7420').describe("host:port of this daemon's HTTP listener"),
    standbys: z.array(z.url()).default([]),
    secret: secret.optional(),
    heartbeat: durationBetween(100, HOUR, 'no heartbeat').default(30_000),
  })
  .strict();

/**
 * `loader: proftpd`: where the standby's ProFTPD daemon reads its configuration. Keys and
 * certificates are node-local secrets, so they live here and never in the config repo.
 */
export const proftpdSchema = z
  .object({
    configDir: z
      .string()
      .min(1)
      .describe('folder holding proftpd.conf (from templates/proftpd/), domains.d/ and users.d/'),
    mainConfig: z.string().min(1).optional().describe('the main config file; default <configDir>/proftpd.conf'),
    pidFile: z.string().min(1).describe("the daemon's PidFile (as in the main config): SIGHUP goes to this pid"),
    binary: z.string().min(1).default('proftpd').describe('the proftpd executable, for proftpd -t'),
    templates: z
      .string()
      .min(1)
      .optional()
      .describe('a folder overriding templates/proftpd/ (domain.conf, vhost-*.conf)'),
    sftpHostKeys: z.array(z.string().min(1)).default([]).describe('SFTPHostKey files for sftp services (mode 0600)'),
    tlsCertificate: z.string().min(1).optional().describe('TLSRSACertificateFile for ftps services'),
    tlsKey: z.string().min(1).optional().describe('TLSRSACertificateKeyFile for ftps services'),
    uid: z.number().int().nonnegative().default(65534).describe('uid of users whose file has no uid'),
    gid: z.number().int().nonnegative().default(65534).describe('gid of users whose file has no gid'),
    createHomes: z.boolean().default(true).describe("create a user's missing home folder (never its contents)"),
    readyTimeout: durationBetween(100, HOUR)
      .default(10_000)
      .describe('how long the services may take to answer after a reload'),
  })
  .strict();

/**
 * Declared secrets (host keys, TLS keys): the primary commits them age-encrypted as `<path>.age`
 * to every recipient in `.gitfailover/recipients/`; each node decrypts them with its own identity.
 */
export const secretsSchema = z
  .object({
    files: z
      .array(z.string().min(1))
      .default([])
      .describe('primary: globs of live-dir files recorded encrypted with age as <path>.age'),
    identity: z
      .string()
      .regex(/^file:.+/, 'file:PATH (the age identity file, mode 0600)')
      .optional()
      .describe("this node's age identity: file:PATH (written by gitfailover keygen, mode 0600)"),
    owner: z
      .union([z.string().min(1), z.number().int().nonnegative()])
      .optional()
      .describe('owner (name or uid) of decrypted secret files; default the process user'),
    group: z
      .union([z.string().min(1), z.number().int().nonnegative()])
      .optional()
      .describe('group (name or gid) of decrypted secret files'),
    textual: z
      .array(z.string().min(1))
      .default([])
      .describe('globs of secret files that get IP substitution and templates after decryption'),
  })
  .strict();

export const nodeFileSchema = z
  .object({
    $schema: z.string().optional(),
    node: safeName.describe("this node's name, as it appears in commits and events"),
    role: z.enum(['primary', 'standby']),
    repo: repoSchema,
    live: liveSchema,
    record: recordSchema.prefault({}),
    sync: syncSchema.prefault({}),
    substitution: substitutionSchema.prefault({}),
    commands: commandsSchema.prefault({}),
    notify: notifySchema.prefault({}),
    triggers: z.array(triggerSchema).default([]),
    domainTriggers: z
      .object({
        allowHosts: z
          .array(
            z
              .string()
              .min(1)
              .regex(/^[A-Za-z0-9.:[\]-]+$/, 'a host name or address, optionally with :port'),
          )
          .default([])
          .describe("hosts a domain's triggers.yaml may send webhooks to (host or host:port); empty: none"),
      })
      .strict()
      .prefault({})
      .describe(
        "what the repo's own triggers (a domain's triggers.yaml, written by anyone with push rights) may do on this node",
      ),
    loader: z.enum(['files', 'proftpd']).default('files'),
    proftpd: proftpdSchema.optional(),
    secrets: secretsSchema.prefault({}),
  })
  .strict();

export type NodeFile = z.output<typeof nodeFileSchema>;
export type NodeFileInput = z.input<typeof nodeFileSchema>;

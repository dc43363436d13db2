import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { argv, DAY, durationBetween, HOUR } from '../util/schema-primitives.js';
import { ConfigError, GitfailoverError } from '../errors.js';
import { formatPath, parseYamlSource, positionOf, type YamlSource } from '../util/yaml-source.js';
import { parseCondition, unknownVariables } from './condition.js';
import { EVENT_NAMES, EVENT_VARIABLES, isEventName } from './events.js';

/**
 * A trigger: `on` an event, `if` a condition holds, run one or more actions. The same schema
 * checks the node file's `triggers:` and a domain's `triggers.yaml`; issues carry the field path
 * (`[0].if`, `[1].email.smtp.port`) so the caller can turn it into file:line.
 *
 * No import from config/schema.ts: that file imports this one, and an import cycle between
 * modules of zod constants fails at load time.
 */

const address = z.string().min(3).regex(/@/, 'an e-mail address');

export const smtpSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(25),
    secure: z.boolean().default(false).describe('TLS from the first byte (usually port 465)'),
    starttls: z
      .boolean()
      .optional()
      .describe('true: require STARTTLS; false: never use it; unset: use it when the server offers it'),
    user: z.string().min(1).optional(),
    pass: z.string().min(1).optional().describe('a secret: env:NAME or file:PATH, resolved by the node file loader'),
    timeout: durationBetween(100, HOUR).optional(),
  })
  .strict();

export const emailActionSchema = z
  .object({
    to: z.union([address, z.array(address).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    from: address.optional().describe('default: gitfailover@<this host>'),
    subject: z.string().min(1).optional().describe('a template with {{ variable }} placeholders'),
    body: z.string().min(1).optional().describe('a template; default: templates/email/<event>.txt'),
    smtp: smtpSchema,
  })
  .strict();

export const webhookActionSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }),
    secret: z.string().min(1).optional().describe('HMAC-SHA256 key for X-Gitfailover-Signature'),
    timeout: durationBetween(100, HOUR).optional(),
    headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'an HTTP header name'), z.string()).optional(),
  })
  .strict();

export const execActionSchema = z
  .union([argv, z.object({ argv, timeout: durationBetween(100, DAY).optional() }).strict()])
  .transform((v) => (Array.isArray(v) ? { argv: v, timeout: undefined } : v));

const eventName = z.enum(EVENT_NAMES, {
  error: (iss) =>
    iss.input === undefined
      ? `is required: the event name, one of ${EVENT_NAMES.join(', ')}`
      : `unknown event ${JSON.stringify(iss.input)}: expected one of ${EVENT_NAMES.join(', ')}`,
});

const condition = z.string().superRefine((text, ctx) => {
  try {
    parseCondition(text);
  } catch (err) {
    if (!(err instanceof GitfailoverError)) throw err;
    ctx.addIssue({ code: 'custom', message: err.message, params: { column: err.data.column } });
  }
});

export const triggerSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-"')
      .optional()
      .describe('shown in status and logs; default: triggers[<index>]'),
    on: eventName,
    if: condition.optional().describe('a condition over the event variables, e.g. success == false'),
    email: emailActionSchema.optional(),
    webhook: webhookActionSchema.optional(),
    exec: execActionSchema.optional(),
    retries: z.number().int().min(0).max(20).default(3).describe('further attempts after a failed one'),
    backoff: durationBetween(0, HOUR, 'retry at once')
      .default(1000)
      .describe('delay before the first retry; doubled each time'),
    backoffMax: durationBetween(0, DAY, 'retry at once').default(300_000),
    timeout: durationBetween(100, DAY).default(30_000).describe("each attempt's limit, unless the action sets its own"),
  })
  .strict()
  .refine((t) => t.email !== undefined || t.webhook !== undefined || t.exec !== undefined, {
    message: 'a trigger needs at least one action: email, webhook or exec',
  });

export type Trigger = z.output<typeof triggerSchema>;
export type TriggerInput = z.input<typeof triggerSchema>;
export type EmailAction = z.output<typeof emailActionSchema>;
export type WebhookAction = z.output<typeof webhookActionSchema>;
export type ExecAction = z.output<typeof execActionSchema>;
export type ActionKind = 'email' | 'webhook' | 'exec';

export const triggersSchema = z.array(triggerSchema);

/** A domain's `triggers.yaml`. */
export const triggersFileSchema = z.object({ triggers: triggersSchema.default([]) }).strict();

/** The actions a trigger runs, in a fixed order. */
export function triggerActions(t: Trigger): ActionKind[] {
  return (['email', 'webhook', 'exec'] as const).filter((k) => t[k] !== undefined);
}

/**
 * Parse a list of triggers already read from YAML (e.g. `cfg.triggers`). `src` and `basePath`
 * (the list's path in that document) make errors name file:line; without them errors name the
 * field path only.
 */
export function parseTriggers(
  value: unknown,
  src?: YamlSource,
  basePath: (string | number)[] = ['triggers'],
): Trigger[] {
  const parsed = triggersSchema.safeParse(value ?? []);
  if (!parsed.success) throw triggerSchemaError(parsed.error.issues, src, basePath);
  return parsed.data;
}

/** Read and check a domain's `triggers.yaml`. */
export function loadTriggersFile(file: string): Trigger[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${(err as Error).message}`, { file });
  }
  return parseTriggersFile(file, text);
}

export function parseTriggersFile(file: string, text: string): Trigger[] {
  const src = parseYamlSource(file, text);
  if (src.errors.length > 0) {
    const e = src.errors[0]!;
    throw new ConfigError(`${file}:${e.line}:${e.col}: ${e.message}`, { file, line: e.line, col: e.col });
  }
  const parsed = triggersFileSchema.safeParse(src.value ?? {});
  if (!parsed.success) throw triggerSchemaError(parsed.error.issues, src, []);
  return parsed.data.triggers;
}

function triggerSchemaError(
  issues: z.core.$ZodIssue[],
  src: YamlSource | undefined,
  basePath: (string | number)[],
): ConfigError {
  const problems = issues.map((issue) => {
    const path = [...basePath, ...issue.path.filter((p): p is string | number => typeof p !== 'symbol')];
    const field = formatPath(path) || '(top level)';
    const pos = src ? positionOf(src, path) : undefined;
    const where = src && pos ? `${src.file}:${pos.line}:${pos.col}: ` : '';
    return {
      file: src?.file,
      line: pos?.line,
      col: pos?.col,
      field,
      text: `${where}${field}: ${describeIssue(issue)}`,
    };
  });
  const first = problems[0]!;
  return new ConfigError(
    problems.map((p) => p.text).join('\n'),
    { file: first.file, line: first.line, col: first.col, field: first.field },
    { problems },
  );
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined'))
    return `is required (${issue.expected})`;
  return issue.message;
}

/**
 * Non-fatal findings for `validate`: a condition naming a variable its event does not offer
 * (it reads as null, so the trigger probably never fires as intended).
 */
export function triggerWarnings(triggers: readonly Trigger[]): { index: number; field: string; message: string }[] {
  const out: { index: number; field: string; message: string }[] = [];
  triggers.forEach((t, index) => {
    if (t.if === undefined || !isEventName(t.on)) return;
    const known = EVENT_VARIABLES[t.on];
    for (const v of unknownVariables(parseCondition(t.if), known)) {
      out.push({
        index,
        field: `[${index}].if`,
        message: `condition "${t.if}": "${v.name}" (column ${v.col}) is not a variable of event ${t.on}; it reads as null. Known: ${known.join(', ')}`,
      });
    }
  });
  return out;
}

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../errors.js';
import type { TriggerLogger } from '../triggers/dispatcher.js';
import { EVENT_NAMES, isEventName, sampleEvent, type TriggerEvent } from '../triggers/events.js';
import type { Trigger } from '../triggers/schema.js';
import { EXIT_FAILED, Exit } from './exit.js';
import { loadNodeFile } from './node-file.js';

/** How long `triggers test` waits for its deliveries before it gives up. */
const TEST_WAIT_MS = 120_000;

export function registerTriggersCommands(program: Command): void {
  const triggers = program.command('triggers').description('check the triggers of this node');
  triggers
    .command('test')
    .description('fire a synthetic event through the configured triggers and report each action')
    .option('-c, --config <file>', 'node file (default: $GITFAILOVER_CONFIG or ./gitfailover.yaml)')
    .option('--event <name>', `event to fire: ${EVENT_NAMES.join(', ')}`, 'sync')
    .option(
      '--set <name=value>',
      'set an event variable (repeatable): true/false/null/numbers are typed, lists comma-separated',
      collect,
      [],
    )
    .action(async (opts: { config?: string; event: string; set: string[] }) => {
      const code = await triggersTest(opts);
      if (code !== 0) throw new Exit(code);
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export async function triggersTest(opts: { config?: string; event: string; set: string[] }): Promise<number> {
  if (!isEventName(opts.event)) {
    throw new ConfigError(`--event ${opts.event}: unknown event; expected one of ${EVENT_NAMES.join(', ')}`);
  }
  const cfg = await loadNodeFile({ file: opts.config });
  const { parseTriggers } = await import('../triggers/schema.js');
  const { TriggerDispatcher } = await import('../triggers/dispatcher.js');
  // Until config/schema.ts embeds triggers/schema.ts, the node file only checks the triggers'
  // shape: check them in full here. (Once embedded, this parse is a harmless repeat.)
  const list: Trigger[] = resolveSecrets(parseTriggers(cfg.triggers, undefined, ['triggers']), cfg.file);
  const event = buildEvent(opts.event, cfg.node, opts.set);

  const quiet: TriggerLogger = { info: () => {}, warn: () => {}, error: () => {} };
  // one attempt per action: the operator wants the reason now, not after the backoff
  const dispatcher = new TriggerDispatcher(list, { logger: quiet, retries: 0 });
  const ids = dispatcher.fire(event);
  if (ids.length === 0) {
    const onEvent = list.filter((t) => t.on === event.event).length;
    process.stdout.write(
      onEvent === 0
        ? `no trigger of ${cfg.file} is on event ${event.event}; nothing was sent\n`
        : `event ${event.event} matched none of the ${onEvent} trigger(s) on it (their "if" conditions are false); nothing was sent\n`,
    );
    return EXIT_FAILED;
  }
  const drained = await dispatcher.drain(TEST_WAIT_MS);
  let failed = !drained;
  for (const d of dispatcher.deliveries().filter((x) => ids.includes(x.id))) {
    for (const a of d.actions) {
      if (!a.ok) failed = true;
      process.stdout.write(`${a.ok ? 'OK    ' : 'FAILED'}  ${d.id}  ${a.action} ${a.target}: ${a.detail}\n`);
    }
  }
  if (!drained)
    process.stdout.write(`FAILED  deliveries did not finish within ${TEST_WAIT_MS / 1000}s and were cancelled\n`);
  return failed ? EXIT_FAILED : 0;
}

/**
 * Stopgap until the node file loader resolves `triggers[i].email.smtp.pass` and
 * `triggers[i].webhook.secret` like its other secrets: `env:NAME` / `file:PATH` here.
 * Already-resolved values pass through unchanged (unless they happen to start with env:/file:).
 */
function resolveSecrets(list: Trigger[], nodeFile: string): Trigger[] {
  const resolveOne = (value: string | undefined, field: string): string | undefined => {
    if (value === undefined) return undefined;
    if (value.startsWith('env:')) {
      const v = process.env[value.slice(4)];
      if (v === undefined || v === '')
        throw new ConfigError(`${nodeFile}: ${field}: environment variable ${value.slice(4)} is not set`);
      return v;
    }
    if (value.startsWith('file:')) {
      const p = resolve(dirname(nodeFile), value.slice(5));
      try {
        return readFileSync(p, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(`${nodeFile}: ${field}: cannot read secret file ${p}: ${(err as Error).message}`);
      }
    }
    return value;
  };
  return list.map((t, i) => ({
    ...t,
    email: t.email && {
      ...t.email,
      smtp: { ...t.email.smtp, pass: resolveOne(t.email.smtp.pass, `triggers[${i}].email.smtp.pass`) },
    },
    webhook: t.webhook && { ...t.webhook, secret: resolveOne(t.webhook.secret, `triggers[${i}].webhook.secret`) },
  }));
}

/** The sample event of that kind with `--set name=value` applied. */
export function buildEvent(name: string, node: string, sets: readonly string[]): TriggerEvent {
  if (!isEventName(name)) throw new ConfigError(`unknown event ${name}`);
  const base = sampleEvent(name, node) as unknown as Record<string, unknown>;
  const overrides: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--set ${s}: expected name=value`);
    const key = s.slice(0, eq);
    const raw = s.slice(eq + 1);
    if (key === 'event') throw new ConfigError('--set event=...: use --event to choose the event');
    if (key === 'commits') {
      overrides.commits = splitList(raw).map((id) => ({ id, subject: '(set by --set)', author: 'gitfailover' }));
    } else if (Array.isArray(base[key])) {
      overrides[key] = splitList(raw).map(typed);
    } else {
      overrides[key] = typed(raw);
    }
  }
  if (name === 'sync' && overrides.success === false && !('error' in overrides)) {
    overrides.error = 'synthetic failure sent by gitfailover triggers test';
  }
  return sampleEvent(name, node, overrides);
}

function splitList(raw: string): string[] {
  return raw === '' ? [] : raw.split(',').map((x) => x.trim());
}

/** true/false/null and numbers become typed values, so `--set success=false` matches `success == false`. */
export function typed(raw: string): string | number | boolean | null {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null') return null;
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  return raw;
}

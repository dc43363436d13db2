import { errorMessage } from '../errors.js';
import { runExec } from './actions/exec.js';
import type { ActionAttempt, ActionResult } from './actions/types.js';
import { redact } from '../util/redact.js';
import { postWebhook } from './actions/webhook.js';
import { evaluate, parseCondition, type Condition } from './condition.js';
import { eventDomains, flattenVariables, type TriggerEvent } from './events.js';
import { triggerActions, type ActionKind, type Trigger } from './schema.js';

/**
 * Runs triggers after events, off the caller's path: fire() only evaluates conditions and queues
 * work, so a slow SMTP server or a dead webhook never delays nor fails a sync.
 *
 * Per trigger there is at most one delivery running and one waiting (git-sync's hook rule): when
 * events arrive faster than the target takes them, the waiting one is replaced by the newest and
 * the replaced one is counted as `dropped`. Each action of a delivery is tried with the
 * trigger's timeout and retried with exponential backoff; results are kept for `status`.
 */

export interface TriggerLogger {
  info(message: string, data?: Record<string, unknown>): void;
  warn(message: string, data?: Record<string, unknown>): void;
  error(message: string, data?: Record<string, unknown>): void;
}

/** Logs to stderr, one line each; daemons pass their own logger. */
export const stderrLogger: TriggerLogger = {
  info: (m) => process.stderr.write(`gitfailover: ${m}\n`),
  warn: (m) => process.stderr.write(`gitfailover: warning: ${m}\n`),
  error: (m) => process.stderr.write(`gitfailover: ${m}\n`),
};

export interface DispatcherOptions {
  /** per domain (folder name): the triggers of its triggers.yaml */
  domainTriggers?: Record<string, readonly Trigger[]>;
  logger?: TriggerLogger;
  /**
   * Whether a domain's triggers.yaml (which comes from the config repo, i.e. from whoever can
   * push to it) may run commands on this node. Off by default: e-mail and webhooks only.
   */
  allowDomainExec?: boolean;
  /** Hosts (`host` or `host:port`) a domain's triggers.yaml may send webhooks to: the node file's domainTriggers.allowHosts. */
  allowHosts?: readonly string[];
  /** Replace every trigger's retry count (`triggers test` uses 0 to report at once). */
  retries?: number;
}

export interface ActionOutcome {
  action: ActionKind;
  /** where it went: addresses, URL (credentials removed) or argv[0] */
  target: string;
  ok: boolean;
  /** what was delivered, or why not */
  detail: string;
  attempts: number;
  time: string;
  event: string;
}

export interface TriggerDelivery {
  id: string;
  on: string;
  domain?: string;
  /** events that matched the trigger's condition */
  matched: number;
  succeeded: number;
  failed: number;
  /** matched events replaced by a newer one before they were delivered */
  dropped: number;
  running: boolean;
  pending: boolean;
  lastSuccess?: { time: string; event: string };
  lastFailure?: { time: string; event: string; reason: string };
  /** the last outcome of each action */
  actions: ActionOutcome[];
}

interface Entry {
  id: string;
  trigger: Trigger;
  domain?: string;
  condition?: Condition;
  running?: Promise<void>;
  pending?: TriggerEvent;
  stats: TriggerDelivery;
}

type Runner = (t: Trigger, attempt: ActionAttempt) => ActionResult;
const RUNNERS: Record<ActionKind, Runner> = {
  // nodemailer is loaded when an email is sent, not by every command that builds a dispatcher.
  email: async (t, a) => (await import('./actions/email.js')).sendEmail(t.email!, a),
  webhook: (t, a) => postWebhook(t.webhook!, a),
  exec: (t, a) => runExec(t.exec!, a),
};

export class TriggerDispatcher {
  private entries: Entry[] = [];
  private readonly logger: TriggerLogger;
  private readonly abort = new AbortController();
  /** every delivery loop still running, including those of replaced domain triggers */
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    triggers: readonly Trigger[],
    private readonly options: DispatcherOptions = {},
  ) {
    this.logger = options.logger ?? stderrLogger;
    this.entries = triggers.map((t, i) => this.entry(t, t.name ?? `triggers[${i}]`));
    this.setDomainTriggers(options.domainTriggers ?? {});
  }

  /** Replace the node file's triggers (a reloaded node file); deliveries already running finish on their own. */
  setNodeTriggers(triggers: readonly Trigger[]): void {
    this.entries = [
      ...triggers.map((t, i) => this.entry(t, t.name ?? `triggers[${i}]`)),
      ...this.entries.filter((e) => e.domain !== undefined),
    ];
  }

  /** Replace the per-domain triggers (after a sync applied a new triggers.yaml); statistics of unchanged ids are kept. */
  setDomainTriggers(byDomain: Record<string, readonly Trigger[]>): void {
    const old = new Map(this.entries.filter((e) => e.domain !== undefined).map((e) => [e.id, e]));
    const fresh: Entry[] = [];
    for (const [domain, triggers] of Object.entries(byDomain)) {
      triggers.forEach((t, i) => {
        const id = `${domain}/${t.name ?? `triggers[${i}]`}`;
        const e = this.entry(t, id, domain);
        const prev = old.get(id);
        // counts survive a reload; a delivery still running for the old entry finishes on its own
        if (prev) e.stats = { ...prev.stats, on: t.on, running: false, pending: false };
        fresh.push(e);
      });
    }
    this.entries = [...this.entries.filter((e) => e.domain === undefined), ...fresh];
  }

  private entry(trigger: Trigger, id: string, domain?: string): Entry {
    return {
      id,
      trigger,
      domain,
      // the schema has checked it parses; parsing once here keeps fire() cheap
      condition: trigger.if !== undefined ? parseCondition(trigger.if) : undefined,
      stats: {
        id,
        on: trigger.on,
        domain,
        matched: 0,
        succeeded: 0,
        failed: 0,
        dropped: 0,
        running: false,
        pending: false,
        actions: [],
      },
    };
  }

  /**
   * Queue the actions of every trigger the event matches and return their ids at once. Never
   * throws and never waits: delivery happens in the background (see drain()).
   */
  fire(event: TriggerEvent): string[] {
    const matched: string[] = [];
    try {
      if (this.abort.signal.aborted) return matched;
      const vars = flattenVariables(event);
      const domains = eventDomains(event);
      for (const e of this.entries) {
        if (e.trigger.on !== event.event) continue;
        if (e.domain !== undefined && !(domains ?? []).includes(e.domain)) continue;
        if (e.condition && !evaluate(e.condition, vars)) continue;
        matched.push(e.id);
        e.stats.matched++;
        if (e.running) {
          if (e.pending) e.stats.dropped++;
          e.pending = event;
          e.stats.pending = true;
        } else {
          this.start(e, event);
        }
      }
    } catch (err) {
      // a bug here must not break the sync that reported the event
      this.logger.error(`triggers: could not dispatch event ${event.event}: ${errorMessage(err)}`);
    }
    return matched;
  }

  private start(e: Entry, event: TriggerEvent): void {
    e.stats.running = true;
    const run: Promise<void> = (async () => {
      let next: TriggerEvent | undefined = event;
      while (next && !this.abort.signal.aborted) {
        await this.deliver(e, next);
        next = e.pending;
        e.pending = undefined;
        e.stats.pending = false;
      }
    })()
      .catch((err) => this.logger.error(`trigger ${e.id}: ${errorMessage(err)}`))
      .finally(() => {
        this.inflight.delete(run);
        if (e.running === run) e.running = undefined;
        e.stats.running = false;
        e.pending = undefined;
        e.stats.pending = false;
      });
    e.running = run;
    this.inflight.add(run);
  }

  private async deliver(e: Entry, event: TriggerEvent): Promise<void> {
    const kinds = triggerActions(e.trigger).filter((kind) => {
      if (kind === 'exec' && e.domain !== undefined && !this.options.allowDomainExec) {
        this.logger.warn(
          `trigger ${e.id}: exec actions from a domain's triggers.yaml are not allowed on this node; skipped`,
        );
        return false;
      }
      if (kind === 'webhook' && e.domain !== undefined) {
        const refusal = domainWebhookRefusal(e.trigger.webhook!, this.options.allowHosts ?? []);
        if (refusal) {
          this.logger.warn(`trigger ${e.id} (triggers.yaml of domain ${e.domain}): webhook skipped: ${refusal}`);
          return false;
        }
      }
      return true;
    });
    if (kinds.length === 0) return; // nothing this node may run: neither a success nor a failure
    const outcomes = await Promise.all(kinds.map((kind) => this.runAction(e, kind, event)));
    const time = new Date().toISOString();
    const failures = outcomes.filter((o) => !o.ok);
    for (const o of outcomes) {
      const i = e.stats.actions.findIndex((a) => a.action === o.action);
      if (i >= 0) e.stats.actions[i] = o;
      else e.stats.actions.push(o);
    }
    if (failures.length === 0) {
      e.stats.succeeded++;
      e.stats.lastSuccess = { time, event: event.event };
    } else {
      e.stats.failed++;
      const reason = failures.map((f) => `${f.action}: ${f.detail}`).join('; ');
      e.stats.lastFailure = { time, event: event.event, reason };
    }
  }

  private async runAction(e: Entry, kind: ActionKind, event: TriggerEvent): Promise<ActionOutcome> {
    const t = e.trigger;
    const retries = this.options.retries ?? t.retries;
    const timeoutMs = actionTimeout(t, kind);
    const target = actionTarget(t, kind);
    let detail = '';
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        detail = await RUNNERS[kind](t, { event, timeoutMs, signal: this.abort.signal });
        this.logger.info(`trigger ${e.id}: ${kind} ${detail}`);
        return { action: kind, target, ok: true, detail, attempts, time: new Date().toISOString(), event: event.event };
      } catch (err) {
        detail = errorMessage(err);
        const last = attempts > retries || this.abort.signal.aborted;
        const delay = Math.min(t.backoff * 2 ** (attempts - 1), t.backoffMax);
        this.logger.warn(
          `trigger ${e.id}: ${kind} attempt ${attempts} of ${retries + 1} failed: ${detail}${last ? '' : `; retrying in ${delay}ms`}`,
        );
        if (last) break;
        await sleep(delay, this.abort.signal);
        if (this.abort.signal.aborted) break;
      }
    }
    this.logger.error(`trigger ${e.id}: ${kind} to ${target} FAILED after ${attempts} attempts: ${detail}`);
    return { action: kind, target, ok: false, detail, attempts, time: new Date().toISOString(), event: event.event };
  }

  /** Per-trigger delivery results, as plain JSON for `status`. */
  deliveries(): TriggerDelivery[] {
    return this.entries.map((e) => structuredClone(e.stats));
  }

  /** Whether any delivery is running or waiting. */
  get busy(): boolean {
    return this.inflight.size > 0;
  }

  /**
   * Wait until every queued delivery has finished (true), or `timeoutMs` has passed: then cancel
   * what is left — retries stop, running actions are aborted — and return false. Fire nothing
   * after a drain that returned false: the dispatcher is closed.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.busy) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.abort.abort();
        await Promise.all(this.inflight);
        return false;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(this.inflight), new Promise((r) => (timer = setTimeout(r, left)))]);
      clearTimeout(timer);
    }
    return true;
  }
}

/** Headers a webhook of the repo may not set: credentials, and what cloud metadata services trust. */
const FORBIDDEN_HEADER = /^(authorization|proxy-authorization|cookie|host|metadata(-.*)?|x-google-metadata-request)$/i;

/**
 * Why a domain's webhook (from the config repo, i.e. from anyone with push rights) may not go out,
 * or undefined: its host must be in the node file's domainTriggers.allowHosts, it may carry no
 * credentials in its URL, and its headers may not set credentials or metadata headers.
 */
export function domainWebhookRefusal(
  action: { url: string; headers?: Record<string, string> },
  allowHosts: readonly string[],
): string | undefined {
  let u: URL;
  try {
    u = new URL(action.url);
  } catch {
    return 'its url does not parse';
  }
  const host = u.hostname.toLowerCase();
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  const allowed = allowHosts.some((h) => {
    const a = h.toLowerCase();
    return (
      a === host ||
      a === `${host}:${port}` ||
      (host.startsWith('[') && (a === host.slice(1, -1) || a === `${host}:${port}`))
    );
  });
  if (!allowed)
    return `host ${u.host} is not in domainTriggers.allowHosts of the node file (empty by default: a domain's triggers.yaml may send webhooks nowhere); add it there to allow it`;
  if (u.username || u.password)
    return 'its url carries credentials, which a triggers.yaml in the repo may not; use a webhook secret';
  const bad = Object.keys(action.headers ?? {}).filter((k) => FORBIDDEN_HEADER.test(k));
  if (bad.length > 0)
    return `it sets the header${bad.length > 1 ? 's' : ''} ${bad.join(', ')}, which a triggers.yaml in the repo may not (Authorization, Cookie, Host, Metadata-*)`;
  return undefined;
}

function actionTimeout(t: Trigger, kind: ActionKind): number {
  switch (kind) {
    case 'email':
      return t.email?.smtp.timeout ?? t.timeout;
    case 'webhook':
      return t.webhook?.timeout ?? t.timeout;
    case 'exec':
      return t.exec?.timeout ?? t.timeout;
  }
}

export function actionTarget(t: Trigger, kind: ActionKind): string {
  switch (kind) {
    case 'email':
      return t.email!.to.join(', ');
    case 'webhook':
      return redact(t.webhook!.url);
    case 'exec':
      return t.exec!.argv[0]!;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

import type { NodeConfig } from '../config/load.js';
import { TriggerDispatcher, type TriggerLogger } from '../triggers/dispatcher.js';
import type { TriggerEvent } from '../triggers/events.js';
import { hostPort } from '../model/admit.js';
import { domainsDirOf } from '../model/layout.js';
import { loadDomainTriggers } from '../triggers/domains.js';
import type { SyncOutcome } from './sync.js';

/** The triggers of every domain's triggers.yaml in the live dir (as applied: already validated). */
export function domainTriggersOf(cfg: NodeConfig): ReturnType<typeof loadDomainTriggers>['triggers'] {
  return loadDomainTriggers(cfg.live.dir, domainsDirOf(cfg.live.domains)).triggers;
}

/** The sync outcome as the events DESIGN.md names: `sync`, plus `sync.disabled` / `sync.recovered`. */
export function syncEvents(cfg: NodeConfig, out: SyncOutcome): TriggerEvent[] {
  const r = out.result;
  if (r.upToDate && r.success) return [];
  if (r.errorClass === 'usage') return []; // the operator's typing: said on stderr, exit 2, nobody paged
  const time = new Date().toISOString();
  const events: TriggerEvent[] = [
    {
      event: 'sync',
      node: cfg.node,
      time,
      success: r.success,
      mode: r.mode,
      fromCommit: r.fromCommit ?? null,
      toCommit: r.toCommit ?? '',
      commits: r.commits,
      domains: [...r.domains, ...r.deleted],
      ...(r.error ? { error: r.error } : {}),
      ...(r.errorFile ? { errorFile: r.errorFile } : {}),
      ...(r.errorCommit ? { errorCommit: r.errorCommit } : {}),
      ...(r.success ? {} : { errorCode: r.errorCode ?? 'E_SYNC', transient: r.errorClass === 'transient' }),
      durationMs: r.durationMs,
    },
  ];
  // One event per sync however many services are unmapped: 300 services are one e-mail, not 300.
  const unmapped = r.success ? (r.unmapped ?? []) : [];
  const first = unmapped[0];
  if (first)
    events.push({
      event: 'substitution.unmapped',
      node: cfg.node,
      time,
      domain: first.domain,
      service: first.service ?? '',
      ip: first.ip,
      port: first.port,
      unmapped: unmapped.map((u) => `${u.domain} ${u.service ?? '-'} ${hostPort(u.ip, u.port)}`),
      unmappedCount: unmapped.length,
      toCommit: r.toCommit ?? '',
    });
  for (const name of out.extraEvents) {
    if (name === 'sync.disabled') {
      events.push({
        event: 'sync.disabled',
        node: cfg.node,
        time,
        reason: out.state.disabled?.reason ?? r.error ?? 'sync failed',
        ...(r.error ? { error: r.error } : {}),
        ...(r.errorFile ? { errorFile: r.errorFile } : {}),
        ...(r.errorCommit ? { errorCommit: r.errorCommit } : {}),
        appliedCommit: out.state.appliedCommit ?? null,
      });
    } else {
      events.push({
        event: 'sync.recovered',
        node: cfg.node,
        time,
        failures: out.recoveredAfter,
        toCommit: r.toCommit ?? '',
        domains: r.domains,
      });
    }
  }
  return events;
}

/**
 * Fires the events of a sync through the node's triggers. A one-shot command waits (bounded) so
 * the e-mail leaves before the process exits; a daemon passes its long-lived dispatcher instead.
 */
export async function fireSyncEvents(
  cfg: NodeConfig,
  out: SyncOutcome,
  opts: { wait?: boolean; dispatcher?: TriggerDispatcher; logger?: TriggerLogger } = {},
): Promise<void> {
  const events = syncEvents(cfg, out);
  if (events.length === 0) return;
  const dispatcher =
    opts.dispatcher ??
    new TriggerDispatcher(cfg.triggers, {
      logger: opts.logger,
      domainTriggers: domainTriggersOf(cfg),
      allowHosts: cfg.domainTriggers.allowHosts,
    });
  for (const e of events) dispatcher.fire(e);
  if (opts.wait) await dispatcher.drain(cfg.sync.timeout);
}

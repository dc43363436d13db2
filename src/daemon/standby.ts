import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { domainOf, domainsDirOf } from '../model/layout.js';
import type { NodeRepo } from '../repo/node-repo.js';
import { domainTriggersOf, fireSyncEvents } from '../sync/report.js';
import { loadJournal, loadState, StateStore, unmappedOf } from '../sync/state.js';
import { driftOf } from '../observe/status.js';
import { syncOnce } from '../sync/sync.js';
import { TriggerDispatcher, type TriggerDelivery } from '../triggers/dispatcher.js';
import { sendJson, type Handler } from '../util/http-server.js';
import type { Logger } from './log.js';
import type { NotifyGate } from './webhooks.js';
import type { Observer } from '../observe/observer.js';
import { CommitTimes, repoPosition, type NodeSnapshot } from '../observe/view.js';
import { loadHeartbeat, saveHeartbeat } from '../node-state/heartbeat.js';
import { judgeReadiness } from '../observe/readiness.js';
import { effectiveRole, roleSource } from '../node-state/role-state.js';
import { Backoff } from './backoff.js';

/** The standby half of `gitfailover run` (daemon/supervisor.ts), started and stopped on a role change. */
export interface StandbyController {
  readonly role: 'standby';
  snapshot(): Promise<NodeSnapshot>;
  deliveries(): TriggerDelivery[];
  lastHeartbeat(): string | null;
  /** POST /notify while this node is a standby: a signed notify (or the primary's heartbeat) syncs at once. */
  notify: Handler;
  /** Resolves when the current and any pending sync finished (for tests and shutdown). */
  idle(): Promise<void>;
  /** After a SIGHUP reload: the new triggers and interval. */
  reloaded(): void;
  stop(): Promise<void>;
}

/**
 * Syncs every sync.interval and at once on an authenticated notify; watches lag and drift.
 * One sync runs at a time; requests arriving meanwhile collapse into one follow-up sync.
 * `repo` and `observer` belong to the process (the supervisor): they outlive a role change.
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the controller's timers, flags and handlers share one closure; splitting it is the supervisor's next step
export function startStandbyController(
  cfg: NodeConfig,
  opts: { log: Logger; repo: NodeRepo; observer: Observer; gate: NotifyGate },
): StandbyController {
  const { log, repo, observer, gate } = opts;
  const dispatcher = new TriggerDispatcher(cfg.triggers, {
    logger: log,
    domainTriggers: domainTriggersOf(cfg),
    allowHosts: cfg.domainTriggers.allowHosts,
  });
  let running: Promise<void> | undefined;
  let pending = false;
  let stopping = false;
  let lastHeartbeat: string | null = null;
  let warnedOff = false;
  let warnedQuarantine: string | undefined;
  /** The drift watch's last finding (undefined: not looked yet, or a sync changed the live dir since). */
  let lastDriftFiles: string[] | undefined;

  const automaticOn = () => cfg.sync.automatic && !loadState(cfg.repo.stateDir).disabled;

  const times = new CommitTimes(repo);
  const snapshot = async (): Promise<NodeSnapshot> => {
    const state = loadState(cfg.repo.stateDir);
    const role = effectiveRole(cfg);
    const pos = await repoPosition(
      repo,
      times,
      role === 'standby' ? state.appliedCommit : await repo.resolve(repo.branchRef),
    );
    const hb = loadHeartbeat(cfg.repo.stateDir);
    const covered =
      !hb?.commit ||
      (!!pos.appliedCommit &&
        (hb.commit === pos.appliedCommit || (await repo.isAncestor(hb.commit, pos.appliedCommit).catch(() => false))));
    // The one readiness rule (observe/readiness.ts), over what this daemon knows without running commands.
    const r = judgeReadiness({
      node: cfg.node,
      role,
      roleSource: roleSource(cfg),
      appliedCommit: pos.appliedCommit,
      headCommit: pos.headCommit,
      behind: pos.behindCommits,
      lastSync: state.lastSync,
      drift: lastDriftFiles,
      quarantined: state.quarantined?.commit === pos.headCommit ? state.quarantined : null,
      pinned: state.pinned,
      interruptedApply: loadJournal(cfg.repo.stateDir)?.target,
      unmapped: unmappedOf(cfg.repo.stateDir, state, cfg.substitution),
      heartbeat: hb
        ? {
            ageSeconds: Math.max(0, (Date.now() - Date.parse(hb.time)) / 1000),
            node: hb.node,
            commit: hb.commit,
            covered,
          }
        : null,
    });
    return {
      node: cfg.node,
      role,
      ...pos,
      lastHeartbeat: lastHeartbeat ?? undefined,
      ready: { ok: r.ready, reason: r.reason },
    };
  };

  // A transient failure (remote, network, lock) is tried again sooner than the next tick, backing off; automatic stays on.
  const backoff = new Backoff(Math.min(1_000, cfg.sync.interval), cfg.sync.interval);
  let retryTimer: NodeJS.Timeout | undefined;
  const retryAfter = (r: { success: boolean; errorClass?: string }) => {
    clearTimeout(retryTimer);
    if (r.success || (r.errorClass !== 'transient' && r.errorClass !== 'setup')) return void backoff.reset();
    const delay = backoff.next();
    if (delay >= cfg.sync.interval) return; // the interval tick comes first anyway
    log.info(`retrying in ${delay}ms (attempt ${backoff.attempts + 1}); automatic sync stays on`);
    retryTimer = setTimeout(() => void trigger('retry'), delay);
  };
  const runOne = async (why: string): Promise<void> => {
    // After a promote the supervisor stops this controller within a moment: no sync meanwhile.
    if (stopping || effectiveRole(cfg) !== 'standby') return;
    // An interrupted apply is always finished, even with automatic sync off: the live dir must converge.
    if (!automaticOn() && !loadJournal(cfg.repo.stateDir)) {
      if (!warnedOff)
        log.warn(
          `automatic sync is off (${loadState(cfg.repo.stateDir).disabled?.reason ?? `sync.automatic: false in ${cfg.file}`}); run "gitfailover sync" to sync by hand`,
        );
      warnedOff = true;
      return;
    }
    warnedOff = false;
    try {
      const out = await syncOnce(cfg, { log: (l) => log.info(l) }, repo);
      const r = out.result;
      observer.syncFinished(r);
      retryAfter(r);
      if (!r.success) log.error(`sync failed (${why}): ${r.error}`, { commit: r.errorCommit, file: r.errorFile });
      else if (r.upToDate && r.error) {
        // A quarantined head: said once per commit, so "why does it stay behind?" has an answer in the log.
        if (warnedQuarantine !== r.toCommit)
          log.warn(`not applying: ${r.error}; a newer commit, or "gitfailover sync" run by hand once fixed, moves on`);
        warnedQuarantine = r.toCommit;
      } else if (!r.upToDate)
        log.info(
          `${r.mode} sync ${r.fromCommit?.slice(0, 12) ?? '(nothing)'} -> ${r.toCommit?.slice(0, 12)}: ${r.domains.length} domain(s) loaded, ${r.deleted.length} deleted in ${r.durationMs}ms (${why})`,
          { domains: r.domains },
        );
      if (out.extraEvents.includes('sync.disabled'))
        log.warn(
          'automatic sync disabled after the failure (sync.disableOnFailure); fix the repo, then run "gitfailover sync" or "gitfailover sync --enable"',
        );
      if (r.success && !r.upToDate) {
        dispatcher.setDomainTriggers(domainTriggersOf(cfg));
        lastDriftFiles = undefined;
        lastDriftCheck = 0; // look again at the next tick
      }
      await fireSyncEvents(cfg, out, { dispatcher });
    } catch (err) {
      // A sync that waited for the lock while `promote` ran is refused (E_IS_PRIMARY): the switch, not an error.
      if (effectiveRole(cfg) !== 'standby') return;
      log.error(`sync error (${why}): ${errorMessage(err)}`);
    }
  };

  const trigger = (why: string): Promise<void> => {
    if (stopping) return Promise.resolve();
    if (running) {
      pending = true;
      return running;
    }
    running = (async () => {
      await runOne(why);
      while (pending && !stopping) {
        pending = false;
        await runOne('queued');
      }
      running = undefined;
    })();
    return running;
  };

  const notify: Handler = (req, body, res) => {
    const v = gate.check(req.headers, body, req.socket.remoteAddress);
    if (!v.ok) {
      sendJson(res, v.status, { error: v.reason });
      return;
    }
    if (v.heartbeat) {
      // Only the primary's signed heartbeat says production is alive: a forge's push or a replay does not.
      lastHeartbeat = new Date().toISOString();
      saveHeartbeat(cfg.repo.stateDir, body); // for "gitfailover ready", which runs in another process
    }
    void trigger(`notify via ${v.via}`);
    sendJson(res, 202, { accepted: true });
  };

  // Lag and drift are watched on every tick, whether or not automatic sync is on: an operator
  // who turned sync off still wants to know the failover fell behind or was edited by hand.
  let behindSince: number | undefined;
  let lagFired = false;
  let heartbeatFired = false;
  let lastDriftCheck = 0;
  let lastDrift = '';
  const watch = async (): Promise<void> => {
    const now = Date.now();
    const state = loadState(cfg.repo.stateDir);
    const head = automaticOn()
      ? await repo.resolve(repo.trackingRef)
      : await repo.fetch(cfg.sync.timeout).catch(() => repo.resolve(repo.trackingRef));
    const applied = state.appliedCommit ?? null;
    if (head && head !== applied) behindSince ??= now;
    else {
      behindSince = undefined;
      lagFired = false;
    }
    if (behindSince !== undefined && now - behindSince > cfg.sync.maxLag && !lagFired) {
      lagFired = true;
      log.warn(
        `lag: ${applied?.slice(0, 12) ?? '(nothing)'} applied, remote at ${head?.slice(0, 12)} for ${Math.round((now - behindSince) / 1000)}s (sync.maxLag)`,
      );
      dispatcher.fire({
        event: 'lag',
        node: cfg.node,
        time: new Date().toISOString(),
        behindSeconds: Math.round((now - behindSince) / 1000),
        reason: 'behind',
        appliedCommit: applied,
        targetCommit: head ?? null,
      });
    }
    const beat = lastHeartbeat ? Date.parse(lastHeartbeat) : undefined;
    if (beat !== undefined && now - beat > cfg.sync.maxLag) {
      if (!heartbeatFired) {
        heartbeatFired = true;
        log.warn(`lag: no heartbeat from the primary for ${Math.round((now - beat) / 1000)}s: production may be down`);
        dispatcher.fire({
          event: 'lag',
          node: cfg.node,
          time: new Date().toISOString(),
          behindSeconds: Math.round((now - beat) / 1000),
          reason: 'heartbeat',
          appliedCommit: applied,
          targetCommit: head ?? null,
        });
      }
    } else heartbeatFired = false;
    if (applied && now - lastDriftCheck >= cfg.sync.driftCheck && !loadJournal(cfg.repo.stateDir)) {
      lastDriftCheck = now;
      const d = driftOf(cfg, new StateStore(cfg.repo.stateDir).manifest());
      const files = [...d.changed, ...d.missing, ...d.extra];
      lastDriftFiles = files;
      const key = files.join('\n');
      if (files.length > 0 && key !== lastDrift) {
        log.warn(
          `drift: ${files.length} file(s) of the live dir differ from ${applied.slice(0, 12)}: ${files.slice(0, 5).join(', ')}${files.length > 5 ? ', ...' : ''}`,
        );
        const domains = [...new Set(files.flatMap((f) => domainOf(f, domainsDirOf(cfg.live.domains)) ?? []))];
        dispatcher.fire({
          event: 'drift',
          node: cfg.node,
          time: new Date().toISOString(),
          files,
          domains,
          appliedCommit: applied,
        });
      }
      lastDrift = key;
    }
  };
  const tick = () =>
    void trigger('interval')
      .then(() => (stopping || effectiveRole(cfg) !== 'standby' ? undefined : watch()))
      .catch((err: unknown) => log.error(`watch: ${errorMessage(err)}`));
  let timer = setInterval(tick, cfg.sync.interval);
  let interval = cfg.sync.interval;
  void trigger('start');

  return {
    role: 'standby',
    snapshot,
    deliveries: () => dispatcher.deliveries(),
    lastHeartbeat: () => lastHeartbeat,
    notify,
    idle: async () => {
      while (running) await running;
    },
    reloaded: () => {
      dispatcher.setNodeTriggers(cfg.triggers);
      if (cfg.sync.interval !== interval) {
        interval = cfg.sync.interval;
        clearInterval(timer);
        timer = setInterval(tick, cfg.sync.interval);
      }
      warnedOff = false; // say again whether automatic sync is on, under the new file
    },
    stop: async () => {
      stopping = true;
      clearInterval(timer);
      clearTimeout(retryTimer);
      while (running) await running;
      await dispatcher.drain(5_000);
    },
  };
}

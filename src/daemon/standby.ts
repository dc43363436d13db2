import type { Server } from 'node:http';
import { plaintextSecretWarning, type NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { redact } from '../repo/git.js';
import { NodeRepo } from '../repo/node-repo.js';
import { domainTriggersOf, fireSyncEvents } from '../sync/report.js';
import { loadJournal, loadState } from '../sync/state.js';
import { driftOf, statusOf } from '../sync/status.js';
import { syncOnce } from '../sync/sync.js';
import { TriggerDispatcher } from '../triggers/dispatcher.js';
import { sendJson, startHttp } from './http.js';
import { createLogger, type Logger } from './log.js';
import { NotifyGate } from './webhooks.js';
import { Observer } from '../observe/observer.js';
import { CommitTimes, repoPosition, type NodeView } from '../observe/view.js';
import { RoleFollower } from './role-follower.js';
import { loadHeartbeat, saveHeartbeat } from '../role/heartbeat.js';
import { judgeReadiness } from '../role/readiness.js';
import { refreshAddressVerdict } from '../role/ready.js';
import { effectiveRole, roleSource } from '../role/role-state.js';
import { Backoff } from './backoff.js';
import { clearRunning, reloadNodeFile, writeRunning } from './reload.js';

export interface StandbyDaemon {
  address: string;
  stop(): Promise<void>;
  /** Resolves when the current and any pending sync finished (for tests and shutdown). */
  idle(): Promise<void>;
  /** SIGHUP: read the node file again; false (logged) when it keeps the old configuration. */
  reload(): boolean;
}

/**
 * `gitfailover standby`: syncs every sync.interval and at once on an authenticated notify.
 * One sync runs at a time; requests arriving meanwhile collapse into one follow-up sync.
 */
export async function runStandby(cfg: NodeConfig, opts: { logger?: Logger } = {}): Promise<StandbyDaemon> {
  const log = opts.logger ?? createLogger(cfg.node);
  const repo = new NodeRepo(cfg.repo); // kept open: its cat-file process serves every sync
  const plaintext = plaintextSecretWarning(cfg);
  if (plaintext) log.warn(plaintext);
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
  const view: NodeView = {
    node: cfg.node,
    role: () => effectiveRole(cfg),
    deliveries: () => dispatcher.deliveries(),
    lastSync: () => loadState(cfg.repo.stateDir).lastSync,
    snapshot: async () => {
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
          (hb.commit === pos.appliedCommit ||
            (await repo.isAncestor(hb.commit, pos.appliedCommit).catch(() => false))));
      // The one readiness rule (role/readiness.ts), over what this daemon knows without running commands.
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
        unmapped: Object.entries(state.unmapped ?? {}).flatMap(([d, list]) => list.map((b) => `${d} ${b}`)),
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
    },
  };
  const observer = new Observer(cfg, view, repo);

  const follower = new RoleFollower(cfg, log);
  const gate = new NotifyGate(cfg.notify.secret, (line) => log.warn(line));
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
    // promote/demote switch the running agent: while promoted it records and never syncs.
    if (
      await follower.check().catch((err: unknown) => {
        log.error(`role: ${errorMessage(err)}`);
        return follower.actingAsPrimary;
      })
    )
      return;
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

  const { server, address } = await startHttp(cfg.notify.listen, {
    'POST /notify': (req, body, res) => {
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
    },
    // /healthz, /readyz, /metrics, the status page (src/observe/observer.ts)
    ...observer.routes(),
    'GET /status': observer.guarded(async (_req, _body, res) => {
      const s = await statusOf(cfg, { fetch: false });
      sendJson(res, 200, { ...s, remote: redact(s.remote), lastHeartbeat, triggers: dispatcher.deliveries() });
    }),
  });
  log.info(
    `standby ready on ${address}: syncing ${redact(cfg.repo.remote)} (${cfg.repo.branch}) every ${cfg.sync.interval}ms${cfg.sync.automatic ? '' : ' (automatic sync off)'}`,
  );

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
      const d = driftOf(cfg, state.manifest);
      const files = [...d.changed, ...d.missing, ...d.extra];
      lastDriftFiles = files;
      const key = files.join('\n');
      if (files.length > 0 && key !== lastDrift) {
        log.warn(
          `drift: ${files.length} file(s) of the live dir differ from ${applied.slice(0, 12)}: ${files.slice(0, 5).join(', ')}${files.length > 5 ? ', ...' : ''}`,
        );
        const domains = [...new Set(files.map((f) => f.split('/')[1] ?? '').filter(Boolean))];
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
      .then(() => (follower.actingAsPrimary ? undefined : watch()))
      .then(() => refreshAddressVerdict(cfg)) // keepalived's track_script reads it (ready --quiet)
      .catch((err: unknown) => log.error(`watch: ${errorMessage(err)}`));
  let timer = setInterval(tick, cfg.sync.interval);
  writeRunning(cfg, 'standby');
  void trigger('start');

  return {
    address,
    idle: async () => {
      while (running) await running;
    },
    reload: () => {
      const interval = cfg.sync.interval;
      if (!reloadNodeFile(cfg, 'standby', log)) return false;
      dispatcher.setNodeTriggers(cfg.triggers);
      if (cfg.sync.interval !== interval) {
        clearInterval(timer);
        timer = setInterval(tick, cfg.sync.interval);
      }
      warnedOff = false; // say again whether automatic sync is on, under the new file
      return true;
    },
    stop: async () => {
      stopping = true;
      clearRunning(cfg);
      clearInterval(timer);
      clearTimeout(retryTimer);
      observer.close();
      await closeServer(server);
      while (running) await running;
      await follower.stop();
      await dispatcher.drain(5_000);
      repo.close();
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

import type { Server } from 'node:http';
import { plaintextSecretWarning, type NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { Observer } from '../observe/observer.js';
import { CommitTimes, repoPosition, type NodeSnapshot, type NodeView } from '../observe/view.js';
import { redact } from '../util/redact.js';
import { NodeRepo } from '../repo/node-repo.js';
import { effectiveRole, roleSource, type Role } from '../node-state/role-state.js';
import { loadState } from '../sync/state.js';
import { migrateStateDir } from '../sync/migrate-state.js';
import { domainsDirOf } from '../model/layout.js';
import { statusOf } from '../observe/status.js';
import { refreshAddressVerdict } from '../observe/ready.js';
import { sendJson, startHttp } from '../util/http-server.js';
import { createLogger, type Logger } from './log.js';
import { PrimaryDaemon, type PrimaryOutput } from './primary.js';
import { clearRunning, reloadNodeFile, writeRunning, type RunningNodeFile } from './reload.js';
import { startStandbyController, type StandbyController } from './standby.js';
import { NotifyGate } from './webhooks.js';

/** How often the role state (stateDir/role.json, written by promote/demote) is read: a switch follows within this. */
export const ROLE_POLL_MS = 250;

export interface RunningNode {
  /** The listener's address (host:port), the same for the life of the process whatever the role. */
  address: string;
  /** The role the process serves now (undefined while it switches, or when the primary could not start). */
  serving(): Role | undefined;
  /** Resolves when the current role's work (a sync in progress, a switch) is done (tests, shutdown). */
  idle(): Promise<void>;
  /** SIGHUP: read the node file again; false (logged) when it keeps the old configuration. */
  reload(): boolean;
  stop(): Promise<void>;
}

type Current = { role: 'standby'; c: StandbyController } | { role: 'primary'; c: PrimaryDaemon };

/**
 * `gitfailover run`: one process per node, one listener, whatever the role. It serves the role
 * that `promote`/`demote` last wrote (else the node file's) and switches in place when it changes:
 * it stops one controller and starts the other, on the same listener, repo and observer.
 *  - standby: the syncer (interval, notify, retries) with its lag and drift watch;
 *  - primary: the recorder (watch + debounce), pusher, notifier, incoming commits, heartbeat.
 * /readyz, the page and the metrics ask the one controller that serves now (the one readiness rule);
 * while a switch is under way, or a promoted node cannot record, the node is not ready and says why.
 */
export class RoleSupervisor implements RunningNode {
  address = '';
  private current?: Current;
  /** Why the node serves nothing now (a switch under way, a primary that cannot start). */
  private notServing?: string;
  /** The role whose controller could not start: not tried again until a reload or another switch. */
  private failedRole?: Role;
  private switching?: Promise<void>;
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private server?: Server;
  private readonly repo: NodeRepo;
  private readonly observer: Observer;
  private readonly gate: NotifyGate;
  private readonly times: CommitTimes;

  constructor(
    private readonly cfg: NodeConfig,
    readonly log: Logger,
    /** The primary's lines (one per record and push): plain text on a terminal, as `gitfailover primary` always wrote them. */
    private readonly primaryOutput: PrimaryOutput,
    private readonly command: RunningNodeFile['daemon'] = 'run',
  ) {
    this.repo = new NodeRepo(cfg.repo); // kept open: its cat-file process serves every sync and page
    this.times = new CommitTimes(this.repo);
    this.gate = new NotifyGate(cfg.notify.secret, (line) => log.warn(line));
    const view: NodeView = {
      node: cfg.node,
      role: () => this.current?.role ?? effectiveRole(cfg),
      deliveries: () => this.current?.c.deliveries() ?? [],
      lastSync: () => (this.current?.role === 'standby' ? loadState(cfg.repo.stateDir).lastSync : undefined),
      snapshot: () => this.snapshot(),
    };
    this.observer = new Observer(cfg, view, this.repo);
  }

  serving(): Role | undefined {
    return this.current?.role;
  }

  /** Binds the listener, starts the controller of the current role; rejects (and frees everything) when either fails. */
  async start(): Promise<void> {
    const { cfg, log } = this;
    const plaintext = plaintextSecretWarning(cfg);
    if (plaintext) log.warn(plaintext);
    // Once per start, before any read: a state dir an older gitfailover wrote gets today's layout.
    await migrateStateDir(cfg.repo.stateDir, domainsDirOf(cfg.live.domains));
    const role = effectiveRole(cfg);
    try {
      const listening = startHttp(cfg.notify.listen, {
        // One route, decided per request by the role served now: a standby syncs, a primary takes commits in.
        'POST /notify': (req, body, res) => {
          const cur = this.current;
          if (cur?.role === 'standby') return cur.c.notify(req, body, res);
          const v = this.gate.check(req.headers, body, req.socket.remoteAddress);
          if (!v.ok) return sendJson(res, v.status, { error: v.reason });
          if (cur?.role === 'primary') cur.c.notified();
          sendJson(res, 202, { accepted: true });
        },
        ...this.observer.routes(),
        'GET /status': this.observer.guarded(async (_req, _body, res) => {
          const s = await statusOf(cfg, { fetch: false });
          const cur = this.current;
          sendJson(res, 200, {
            ...s,
            remote: redact(s.remote),
            lastHeartbeat: cur?.role === 'standby' ? cur.c.lastHeartbeat() : (cur?.c.lastHeartbeat ?? null),
            triggers: cur?.c.deliveries() ?? [],
          });
        }),
      });
      try {
        const { server, address } = await listening;
        this.server = server;
        this.address = address;
      } catch (err) {
        // A standby without its notify endpoint would miss notifies and heartbeats: refuse. A primary records
        // production's changes whatever happens to its page: a taken port is a loud warning, not a refusal.
        if (role !== 'primary') throw err;
        this.primaryOutput.err(
          `warning: ${errorMessage(err)}; /metrics and the status page are unavailable until notify.listen names a free host:port`,
        );
      }
      if (role === 'primary') {
        if (this.server)
          this.primaryOutput.out(
            `listening on ${this.address}: /notify (forge push webhooks), /metrics, /healthz, /readyz and the status page`,
          );
        if (this.command === 'standby')
          log.warn(`the node's role is primary (${roleSource(cfg)}): serving as the primary`);
        await this.startPrimary();
      } else if (this.command === 'primary')
        log.warn(`the node's role is standby (${roleSource(cfg)}): serving as a standby until "gitfailover promote"`);
    } catch (err) {
      await this.stop();
      throw err;
    }
    if (role === 'standby') {
      this.startStandby();
      log.info(
        `standby ready on ${this.address}: syncing ${redact(cfg.repo.remote)} (${cfg.repo.branch}) every ${cfg.sync.interval}ms${cfg.sync.automatic ? '' : ' (automatic sync off)'}`,
      );
    }
    writeRunning(cfg, this.command);
    // promote/demote (here, or keepalived's hooks) write stateDir/role.json; reading it is one small file.
    this.timer = setInterval(() => void this.follow(), ROLE_POLL_MS);
    // keepalived's track file (stateDir/keepalived.track), once keepalived is set up: one answer per sync.interval.
    this.verdictTimer = setInterval(() => void this.refreshVerdict(), this.cfg.sync.interval);
  }

  private verdictTimer?: NodeJS.Timeout;
  private refreshing = false;

  private async refreshVerdict(): Promise<void> {
    if (this.refreshing || this.stopping) return;
    this.refreshing = true;
    try {
      await refreshAddressVerdict(this.cfg);
    } catch (err) {
      this.log.error(`keepalived track file: ${errorMessage(err)}`);
    } finally {
      this.refreshing = false;
    }
  }

  async idle(): Promise<void> {
    while (this.switching) await this.switching;
    if (this.current?.role === 'standby') await this.current.c.idle();
  }

  reload(): boolean {
    if (!reloadNodeFile(this.cfg, this.command, this.log)) return false;
    this.current?.c.reloaded();
    this.failedRole = undefined; // the new file may fix what kept the role from starting
    return true;
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.timer);
    clearInterval(this.verdictTimer);
    clearRunning(this.cfg);
    while (this.switching) await this.switching;
    const was = this.current?.role;
    await this.current?.c.stop();
    this.current = undefined;
    this.observer.close();
    if (this.server) {
      const server = this.server;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
    }
    this.repo.close();
    if (was === 'primary') this.primaryOutput.out('stopped');
    else this.log.info('stopped');
  }

  /** One look at the role state; a change starts a switch (one at a time). */
  private follow(): Promise<void> {
    if (this.stopping || this.switching) return this.switching ?? Promise.resolve();
    const role = effectiveRole(this.cfg);
    if (role === this.current?.role || role === this.failedRole) return Promise.resolve();
    this.switching = this.switchTo(role).finally(() => {
      this.switching = undefined;
    });
    return this.switching;
  }

  private async switchTo(role: Role): Promise<void> {
    const { cfg, log } = this;
    const from = this.current?.role ?? 'nothing';
    this.notServing = `switching from ${from} to ${role} (${roleSource(cfg)})`;
    if (role === 'primary')
      log.warn(
        `promoted (${roleSource(cfg)}): switching to primary behaviour in this process: recording ${cfg.live.dir}, no more syncs`,
      );
    else log.warn(`demoted (${roleSource(cfg)}): stopping the primary behaviour in this process, syncing again`);
    const old = this.current;
    this.current = undefined;
    this.failedRole = undefined;
    try {
      await old?.c.stop();
    } catch (err) {
      log.error(`stopping the ${from} behaviour: ${errorMessage(err)}`);
    }
    if (this.stopping) return;
    if (role === 'standby') {
      this.startStandby();
      this.notServing = undefined;
      if (!this.server)
        log.warn(
          `no listener on ${cfg.notify.listen} (it was taken when this process started): syncing every sync.interval, deaf to notifies until a restart`,
        );
      return;
    }
    try {
      await this.startPrimary();
      this.notServing = undefined;
      this.primaryOutput.out(
        this.server
          ? `serving as primary on ${this.address}: the same listener, no restart`
          : 'serving as primary (no listener), no restart',
      );
    } catch (err) {
      // Never fall back to syncing: a promoted node's live dir must not be overwritten from the repo.
      this.notServing = `promoted, but cannot record: ${errorMessage(err)}; fix it, then "systemctl reload" (SIGHUP) tries again`;
      this.failedRole = 'primary';
      log.error(this.notServing);
    }
  }

  private hosted(): { observer: Observer; repo: NodeRepo } {
    return { observer: this.observer, repo: this.repo };
  }

  private async startPrimary(): Promise<void> {
    const daemon = new PrimaryDaemon(this.cfg, this.primaryOutput, this.hosted());
    try {
      await daemon.start();
    } catch (err) {
      await daemon.stop().catch(() => {});
      throw err;
    }
    this.current = { role: 'primary', c: daemon };
  }

  private startStandby(): void {
    const c = startStandbyController(this.cfg, {
      log: this.log,
      repo: this.repo,
      observer: this.observer,
      gate: this.gate,
    });
    this.current = { role: 'standby', c };
  }

  private async snapshot(): Promise<NodeSnapshot> {
    const cur = this.current;
    if (cur) return cur.c.snapshot();
    const role = effectiveRole(this.cfg);
    const pos = await repoPosition(
      this.repo,
      this.times,
      role === 'standby'
        ? loadState(this.cfg.repo.stateDir).appliedCommit
        : await this.repo.resolve(this.repo.branchRef),
    );
    return {
      node: this.cfg.node,
      role,
      ...pos,
      ready: { ok: false, reason: `role: ${this.notServing ?? 'starting'}` },
    };
  }
}

/** `gitfailover run` (and its aliases `primary`, `standby`): until SIGINT/SIGTERM; SIGHUP reloads the node file. */
export async function runNode(
  cfg: NodeConfig,
  opts: { logFormat?: 'text' | 'json'; command?: RunningNodeFile['daemon'] } = {},
): Promise<void> {
  const { primaryOutput } = await import('./log.js');
  const format = opts.logFormat ?? 'text';
  const supervisor = new RoleSupervisor(
    cfg,
    createLogger(cfg.node, format),
    primaryOutput(cfg.node, format),
    opts.command,
  );
  await supervisor.start();
  const reload = () => void supervisor.reload();
  process.on('SIGHUP', reload);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      supervisor.log.info(`${signal}: finishing the work in progress, then stopping`);
      void supervisor.stop().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGHUP', reload);
}

/** The demo's standby (and any in-process caller): a supervisor started with a text logger. */
export async function startNode(cfg: NodeConfig, opts: { logger?: Logger } = {}): Promise<RunningNode> {
  const log = opts.logger ?? createLogger(cfg.node);
  const s = new RoleSupervisor(cfg, log, { out: (l) => log.info(l), err: (l) => log.warn(l) });
  await s.start();
  return s;
}

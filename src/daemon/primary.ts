import { existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import picomatch from 'picomatch';
import type { NodeConfig } from '../config/load.js';
import { ConfigError, GitfailoverError, errorMessage } from '../errors.js';
import { record } from '../record/record.js';
import { redact } from '../util/redact.js';
import { withLock } from '../repo/lock.js';
import { NodeRepo } from '../repo/node-repo.js';
import { TriggerDispatcher, type TriggerDelivery, type TriggerLogger } from '../triggers/dispatcher.js';
import { effectiveRole, roleSource } from '../node-state/role-state.js';
import { judgeReadiness } from '../observe/readiness.js';
import { governingPrimary } from '../node-state/repo-primary.js';
import { problemsTextOf } from '../triggers/events.js';
import { Backoff } from './backoff.js';
import { notifyStandbys, type NotifyBody } from './primary-notify.js';
import { pushBranch } from '../repo/push.js';
import type { Server } from 'node:http';
import { sendJson, startHttp } from '../util/http-server.js';
import { NOTIFY_SEEN_FILE, NotifyGate } from './webhooks.js';
import { conflictEvent } from '../record/conflict-event.js';
import { fireSyncEvents } from '../sync/report.js';
import { Observer } from '../observe/observer.js';
import { CommitTimes, repoPosition, type NodeSnapshot, type NodeView } from '../observe/view.js';
import { blockedLine, loadRecordBlocked, problemLines } from '../record/blocked.js';
import type { Problem } from '../model/parse.js';
import { domainsOfChange } from '../model/changes.js';

/** Rejected pushes in a row answered by taking the remote's new commits in, before asking a person. */
const RACE_LIMIT = 5;

/** Where the daemon's lines go: one line per commit and push on `out`, problems on `err`. */
export interface PrimaryOutput {
  out(line: string): void;
  err(line: string): void;
}

export const stdOutput: PrimaryOutput = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

/**
 * The primary daemon: watch the live dir, record one commit per quiet period, push with backoff,
 * notify the standbys. Records and pushes run one at a time on a queue (they share the clone and
 * its `record` lock); waiting for the next push retry is a timer, not a queued job, so a remote
 * that is down never holds up the next record.
 */
export class PrimaryDaemon {
  private watcher?: FSWatcher;
  private queue: Promise<void> = Promise.resolve();
  private recordQueued = false;
  private debounceTimer?: NodeJS.Timeout;
  private pushTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private stopping = false;
  private readonly backoff: Backoff;
  /** Set after a non-fast-forward: retrying would only be rejected again until a person acts. */
  private rejected = false;
  /** First failure of the current streak already reported as push.failed. */
  private failureReported = false;
  /** The head the remote has, as far as this daemon knows: what a heartbeat announces. */
  private remoteHead?: string;
  private readonly background = new Set<Promise<unknown>>();
  private readonly triggers: TriggerDispatcher;
  private warnedDemoted = false;
  /** The listener on notify.listen: health, metrics and the status page (no notify route here). */
  private http?: { server: Server; address: string };
  private observer?: Observer;
  private viewRepo?: NodeRepo;
  /** The clone every record and push of this daemon goes through: its cat-file and update-ref stay open between changes. */
  private readonly repo: NodeRepo;
  private lastHeartbeatSent?: string;
  /** When the current run of failed pushes began: /readyz fails once it outlasts record.retryMax. */
  private unpushedSince?: number;
  private lastPushError?: string;
  private pollTimer?: NodeJS.Timeout;
  /** Rejected pushes in a row: each is answered by taking the new commits in; past RACE_LIMIT a person is asked. */
  private rejectedStreak = 0;
  /** The error of the last failed apply of the repo's commits, said once until it changes. */
  private lastIncomingError?: string;
  /** The last record.failed reported, so an unchanged refusal is not reported on every change. */
  private lastRecordRefusal?: string;

  /** Set while `gitfailover run` hosts this daemon: the process's listener and observer are used, none of its own. */
  private readonly hosted?: { observer: Observer; repo: NodeRepo };
  private snapshotOf?: () => Promise<NodeSnapshot>;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly output: PrimaryOutput = stdOutput,
    hosted?: { observer: Observer; repo: NodeRepo },
  ) {
    this.hosted = hosted;
    this.repo = new NodeRepo(cfg.repo);
    this.backoff = new Backoff(cfg.record.retry, Math.max(cfg.record.retry, cfg.record.retryMax));
    const logger: TriggerLogger = {
      info: (m) => output.out(m),
      warn: (m) => output.err(`warning: ${m}`),
      error: (m) => output.err(m),
    };
    this.triggers = new TriggerDispatcher(cfg.triggers, { logger });
  }

  /** Checks the node file, pushes what a previous run left unpushed, records once, starts watching. Resolves when ready. */
  async start(): Promise<void> {
    const { cfg } = this;
    if (effectiveRole(cfg) !== 'primary') {
      throw new ConfigError(
        `${cfg.file}: role is ${effectiveRole(cfg)} (${roleSource(cfg)}): "gitfailover primary" runs only on a node whose role is primary (run "gitfailover standby" here, or "gitfailover promote")`,
        {
          file: cfg.file,
          field: 'role',
        },
      );
    }
    if (cfg.notify.standbys.length > 0 && !cfg.notify.secret) {
      throw new ConfigError(
        `${cfg.file}: notify.standbys is set but notify.secret is not: standbys only accept signed notifications (set notify.secret: env:NAME)`,
        {
          file: cfg.file,
          field: 'notify.secret',
        },
      );
    }
    if (!existsSync(cfg.live.dir)) {
      throw new GitfailoverError(
        'E_LIVE_MISSING',
        `live dir ${cfg.live.dir} does not exist (live.dir in ${cfg.file}): nothing to watch`,
        { kind: 'stalling' },
      );
    }
    this.output.out(
      `primary ${cfg.node}: live dir ${cfg.live.dir}, remote ${redact(cfg.repo.remote)} (${cfg.repo.branch})`,
    );
    if (this.hosted) {
      this.observer = this.hosted.observer;
      this.snapshotOf = this.makeView(this.hosted.repo).snapshot;
    } else await this.startListener();

    // Watch before the first record: a change made while it runs then queues another record.
    this.watcher = await this.startWatcher();
    // A SIGKILL between commit and push left commits in the clone: push them first, then take
    // in whatever changed while the daemon was down.
    this.enqueue(() => this.push());
    this.requestRecord();
    await this.queue;
    if (this.stopping) return;

    if (cfg.notify.standbys.length > 0 && cfg.notify.heartbeat > 0) {
      this.heartbeatTimer = setInterval(() => this.heartbeat(), cfg.notify.heartbeat);
      this.heartbeatTimer.unref();
    }
    // Commits pushed by others (a merged pull request, a revert) reach production within sync.interval
    // without a webhook; a forge's push webhook on notify.listen brings them at once.
    this.pollTimer = setInterval(() => this.requestRecord(), cfg.sync.interval);
    this.pollTimer.unref();
    this.output.out(`ready: watching ${cfg.live.dir}`);
  }

  /** After a SIGHUP reload: the node file's triggers are the new ones (the rest is read from cfg as it is used). */
  reloaded(): void {
    this.triggers.setNodeTriggers(this.cfg.triggers);
  }

  /** Stop watching, finish the record in progress (and one for a change still in its quiet period), try one last push. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    clearInterval(this.heartbeatTimer);
    clearInterval(this.pollTimer);
    clearTimeout(this.pushTimer);
    this.pushTimer = undefined;
    await this.watcher?.close();
    if (this.debounceTimer) {
      clearTimeout(this.debounceTimer);
      this.debounceTimer = undefined;
      this.requestRecord(true);
    }
    await this.queue;
    await Promise.allSettled([...this.background]);
    await this.triggers.drain(5_000);
    this.repo.close();
    if (this.hosted) return; // the process goes on (a role switch), or says itself that it stopped
    this.observer?.close();
    if (this.http)
      await new Promise<void>((resolve) => {
        this.http!.server.close(() => resolve());
        this.http!.server.closeAllConnections?.();
      });
    this.viewRepo?.close();
    this.output.out('stopped');
  }

  private async startWatcher(): Promise<FSWatcher> {
    const { cfg } = this;
    const excluded = cfg.live.exclude.length > 0 ? picomatch(cfg.live.exclude, { dot: true }) : () => false;
    const stateRel = relative(cfg.live.dir, cfg.repo.stateDir);
    const ignored = (path: string): boolean => {
      const rel = relative(cfg.live.dir, path).split(sep).join('/');
      if (rel === '' || rel.startsWith('../')) return false;
      // Repo metadata is never part of the live dir; the state dir inside it would feed back on every record.
      if (rel.split('/')[0]!.startsWith('.gitfailover')) return true;
      if (stateRel && !stateRel.startsWith('..') && (rel === stateRel || rel.startsWith(`${stateRel}/`))) return true;
      return excluded(rel);
    };
    const watcher = watch(cfg.live.dir, { ignoreInitial: true, ignored, persistent: true });
    watcher.on('all', () => this.changed());
    watcher.on('error', (err) => this.output.err(`watching ${cfg.live.dir}: ${errorMessage(err)}`));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    return watcher;
  }

  /** A file event: (re)start the quiet period, so one admin action (many writes) is one commit. */
  private changed(): void {
    if (this.stopping) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.requestRecord();
    }, this.cfg.record.debounce);
  }

  /** At most one record waits behind the running one: it takes in every change made meanwhile. */
  private requestRecord(force = false): void {
    if (this.recordQueued || (this.stopping && !force)) return;
    this.recordQueued = true;
    this.enqueue(async () => {
      this.recordQueued = false;
      await this.recordOnce();
    });
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job).catch((err) => this.output.err(`internal error: ${errorMessage(err)}`));
  }

  private async recordOnce(): Promise<void> {
    if (this.demoted()) return;
    let unpushed = 0;
    let r: Awaited<ReturnType<typeof record>>;
    try {
      // The push goes in the same record, under the same lock: the head, the remote head and the
      // count are known there, so no process asks for them again before the push.
      r = await record(this.cfg, { push: !this.rejected, repo: this.repo });
      this.lastIncomingError = undefined;
      this.lastRecordRefusal = undefined;
    } catch (err) {
      const msg = errorMessage(err);
      this.reportRecordFailed(err);
      this.observer?.metrics.observeRecord('failure');
      if (err instanceof GitfailoverError && err.kind === 'stalling') {
        // A refused commit from the repo (or any error a person must fix) is met again on every
        // poll: said (and noted) once until it changes.
        if (msg !== this.lastIncomingError) {
          this.output.err(`record failed: ${msg}`);
          this.observer?.note({
            time: new Date().toISOString(),
            kind: 'record',
            success: false,
            domains: [],
            detail: msg,
          });
        }
        this.lastIncomingError = msg;
        return;
      }
      this.output.err(`record failed: ${msg}`);
      this.observer?.note({ time: new Date().toISOString(), kind: 'record', success: false, domains: [], detail: msg });
      if (err instanceof GitfailoverError && err.kind === 'waiting' && !this.stopping) {
        // The lock was busy (a record from the command line, a revert): try again after a quiet period.
        this.changed();
      }
      return;
    }
    for (const w of r.warnings) this.output.err(`warning: ${w}`);
    if (r.incoming) {
      const s = r.incoming.sync.result;
      this.output.out(
        `applied ${r.incoming.incoming.length} commit(s) from ${this.cfg.repo.branch} up to ${r.incoming.head.slice(0, 12)}: ${s.domains.length} domain(s) loaded${s.deleted.length ? `, ${s.deleted.length} deleted` : ''}`,
      );
      this.observer?.note({
        time: new Date().toISOString(),
        kind: 'sync',
        success: true,
        domains: [...s.domains, ...s.deleted],
        fromCommit: s.fromCommit,
        toCommit: r.incoming.head,
        detail: r.incoming.incoming.map((c) => c.subject).join('; '),
      });
      void fireSyncEvents(this.cfg, r.incoming.sync, { dispatcher: this.triggers });
      if (r.incoming.sync.result.domains.length + r.incoming.sync.result.deleted.length > 0 && !this.stopping) {
        // The loader swapped domain folders in by rename: a watcher can keep watching the old
        // folder. Watch anew, then record once for whatever was written while it was down.
        await this.watcher?.close();
        this.watcher = await this.startWatcher();
        this.requestRecord();
      }
    }
    if (r.conflict) {
      this.output.err(r.conflict.text);
      this.observer?.note({
        time: r.conflict.time,
        kind: 'conflict',
        success: false,
        domains: [],
        detail: r.conflict.text,
      });
      this.triggers.fire(conflictEvent(this.cfg.node, r.conflict));
    }
    if (r.commit) this.output.out(`recorded ${r.commit.slice(0, 12)} ${r.subject}`);
    this.observer?.metrics.observeRecord(r.commit ? 'commit' : 'no_change');
    if (r.commit)
      this.observer?.note({
        time: new Date().toISOString(),
        kind: 'record',
        success: true,
        domains: [...new Set(r.changes.flatMap(domainsOfChange))],
        toCommit: r.commit,
        detail: r.subject,
      });
    unpushed = r.unpushed;
    if (r.commit || r.incoming) this.rejected = false; // a new head is worth one more try, and one more report
    if (r.pushedRange) {
      clearTimeout(this.pushTimer);
      this.pushTimer = undefined;
      this.pushSucceeded(r.pushedRange.from, r.pushedRange.to, r.pushedRange.count);
    } else if (r.pushError && unpushed > 0 && !this.rejected) {
      clearTimeout(this.pushTimer);
      this.pushTimer = undefined;
      this.pushFailed(r.pushError, unpushed);
    } else if (unpushed > 0 && !this.rejected) {
      clearTimeout(this.pushTimer);
      this.pushTimer = undefined;
      await this.push();
    } else if (r.incoming && unpushed === 0) {
      // Nothing of ours to push: the standbys still hear of the new head at once.
      this.remoteHead = r.incoming.head;
      this.notify({ node: this.cfg.node, commit: r.incoming.head });
    }
  }

  /** One push attempt of whatever the clone has that the remote lacks; schedules the next on failure. */
  private async push(): Promise<void> {
    const { cfg } = this;
    if (this.demoted()) return; // a standby never pushes configuration
    const repo = this.repo;
    let pending = 0;
    let head: string | undefined;
    let before: string | undefined;
    try {
      await withLock(cfg.repo.stateDir, 'record', async () => {
        await repo.ensure();
        head = await repo.resolve(repo.branchRef);
        before = await repo.resolve(repo.trackingRef);
        this.remoteHead ??= before;
        if (!head || head === before) return;
        pending = await repo.count(before, head);
        if (pending === 0) return;
        await pushBranch(repo, cfg.sync.timeout, head);
      });
    } catch (err) {
      this.pushFailed(err, pending);
      return;
    }
    if (pending === 0 || !head) return;
    this.pushSucceeded(before, head, pending);
  }

  /** A push went through: the standbys hear of it first, then the bookkeeping. */
  private pushSucceeded(before: string | undefined, head: string, pending: number): void {
    const { cfg } = this;
    this.notify({ node: cfg.node, commit: head });
    this.backoff.reset();
    this.failureReported = false;
    this.rejected = false;
    this.rejectedStreak = 0;
    this.remoteHead = head;
    this.unpushedSince = undefined;
    this.lastPushError = undefined;
    this.observer?.metrics.observePush('success');
    this.observer?.note({
      time: new Date().toISOString(),
      kind: 'push',
      success: true,
      domains: [],
      fromCommit: before,
      toCommit: head,
      detail: `${pending} commit(s)`,
    });
    this.output.out(
      `pushed ${pending} commit${pending === 1 ? '' : 's'} ${before ? `${before.slice(0, 12)}..` : ''}${head.slice(0, 12)} to ${cfg.repo.branch}`,
    );
  }

  /** After "gitfailover demote" (stateDir/role.json) this daemon neither records nor pushes; said once. */
  private demoted(): boolean {
    if (effectiveRole(this.cfg) === 'primary') {
      this.warnedDemoted = false;
      return false;
    }
    if (!this.warnedDemoted)
      this.output.err(
        `demoted (${roleSource(this.cfg)}): not recording nor pushing; stop "gitfailover primary" and run "gitfailover standby" on this node`,
      );
    this.warnedDemoted = true;
    return true;
  }

  private pushFailed(err: unknown, unpushed: number): void {
    const e =
      err instanceof GitfailoverError ? err : new GitfailoverError('E_PUSH', errorMessage(err), { kind: 'waiting' });
    this.unpushedSince ??= Date.now();
    this.lastPushError = e.message;
    this.observer?.metrics.observePush(e.kind === 'stalling' ? 'rejected' : 'failure');
    this.observer?.note({
      time: new Date().toISOString(),
      kind: 'push',
      success: false,
      domains: [],
      detail: e.message,
    });
    if (e.code === 'E_PUSH_REJECTED' && this.rejectedStreak < RACE_LIMIT && !this.stopping) {
      // Someone pushed between our fetch and our push: take their commits in (record fetches,
      // applies them and replays ours on top), then push again. Never forced.
      this.rejectedStreak++;
      this.output.err(`push rejected: ${this.cfg.repo.branch} moved on; taking in the new commits and pushing again`);
      this.requestRecord(true);
      return;
    }
    if (e.kind === 'stalling') {
      // Forcing would destroy other commits, retrying would only be rejected again. Say so, and
      // wait for a person (or the next record) instead.
      this.rejected = true;
      this.output.err(`push rejected (${unpushed} unpushed, kept in ${this.cfg.repo.stateDir}): ${e.message}`);
      this.reportPushFailed(unpushed, e.message);
      return;
    }
    if (this.stopping) {
      this.output.err(`push failed (${unpushed} unpushed, pushed on the next start): ${e.message}`);
      return;
    }
    const delay = this.backoff.next();
    this.output.err(
      `push failed (${unpushed} unpushed, kept in ${this.cfg.repo.stateDir}; retry ${this.backoff.attempts} in ${delay}ms): ${e.message}`,
    );
    if (!this.failureReported) {
      // One event per outage, not one per retry.
      this.failureReported = true;
      this.reportPushFailed(unpushed, e.message);
    }
    clearTimeout(this.pushTimer);
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      this.enqueue(() => this.push());
    }, delay);
  }

  /** An admission refusal (problems in its data) fires record.failed, once per distinct refusal; it is retried on the next change. */
  private reportRecordFailed(err: unknown): void {
    if (!(err instanceof GitfailoverError) || !Array.isArray(err.data.problems)) return;
    const problems = problemLines(err.data.problems as Problem[]);
    if (problems.join('\n') === this.lastRecordRefusal) return;
    this.lastRecordRefusal = problems.join('\n');
    this.triggers.fire({
      event: 'record.failed',
      node: this.cfg.node,
      time: new Date().toISOString(),
      error: err.message,
      errorFile: err.location.file,
      problems,
      problemsText: problemsTextOf(problems),
    });
  }

  private reportPushFailed(unpushed: number, error: string): void {
    this.triggers.fire({ event: 'push.failed', node: this.cfg.node, time: new Date().toISOString(), unpushed, error });
  }

  /** The node as /readyz, the page and the metrics see it while it is the primary. */
  snapshot(): Promise<NodeSnapshot> {
    if (!this.snapshotOf) throw new Error('the primary daemon has not started');
    return this.snapshotOf();
  }

  deliveries(): TriggerDelivery[] {
    return this.triggers.deliveries();
  }

  get lastHeartbeat(): string | undefined {
    return this.lastHeartbeatSent;
  }

  /** POST /notify (a forge's push webhook, already authenticated): take the new commits in now, not at the next poll. */
  notified(): void {
    this.requestRecord();
  }

  private makeView(repo: NodeRepo): NodeView {
    const { cfg } = this;
    const times = new CommitTimes(repo);
    const view: NodeView = {
      node: cfg.node,
      role: () => effectiveRole(cfg),
      deliveries: () => this.triggers.deliveries(),
      lastSync: () => undefined,
      snapshot: async () => {
        await repo.ensure();
        const pos = await repoPosition(repo, times, await repo.resolveRef(repo.branchRef));
        // The one readiness rule (observe/readiness.ts); after a demote this process records nothing: not ready.
        const r = judgeReadiness({
          node: cfg.node,
          role: effectiveRole(cfg),
          runsAs: 'primary',
          roleSource: roleSource(cfg),
          appliedCommit: pos.appliedCommit,
          headCommit: pos.headCommit,
          behind: pos.behindCommits,
          drift: [],
          // The repo as last fetched names another primary: this node records nothing (a split brain, averted).
          repoPrimary: await governingPrimary(repo, pos.appliedCommit, pos.headCommit)
            .then((g) => (g.record && g.record.node !== cfg.node ? g.record : null))
            .catch(() => null),
          recordBlocked: (() => {
            const b = loadRecordBlocked(cfg.repo.stateDir);
            return b ? blockedLine(b) : null;
          })(),
          push: {
            rejected: this.rejected ? (this.lastPushError ?? 'another node wrote to the remote') : undefined,
            failingForMs: this.unpushedSince === undefined ? 0 : Date.now() - this.unpushedSince,
            retryMaxMs: cfg.record.retryMax,
            unpushed: pos.unpushed,
            error: this.lastPushError,
          },
        });
        return {
          node: cfg.node,
          role: effectiveRole(cfg),
          ...pos,
          lastHeartbeat: this.lastHeartbeatSent,
          ready: { ok: r.ready, reason: r.reason },
        };
      },
    };
    return view;
  }

  /**
   * The listener on notify.listen when this daemon runs on its own (the demo). Unlike the standby's, nothing depends on
   * it for replication (polling does the same, later), so a port already taken is a loud warning.
   */
  private async startListener(): Promise<void> {
    const { cfg } = this;
    const repo = (this.viewRepo = new NodeRepo(cfg.repo));
    const view = this.makeView(repo);
    this.snapshotOf = view.snapshot;
    this.observer = new Observer(cfg, view, repo);
    try {
      const gate = new NotifyGate(
        cfg.notify.secret,
        (line) => this.output.err(`warning: ${line}`),
        Date.now,
        join(cfg.repo.stateDir, NOTIFY_SEEN_FILE),
      );
      this.http = await startHttp(cfg.notify.listen, {
        ...this.observer.routes(),
        // A forge's push webhook (or our own signed notify): take the new commits in now, not at the next poll.
        'POST /notify': (req, body, res) => {
          const v = gate.check(req.headers, body, req.socket.remoteAddress);
          if (!v.ok) {
            sendJson(res, v.status, { error: v.reason });
            return;
          }
          this.requestRecord();
          sendJson(res, 202, { accepted: true });
        },
      });
      this.output.out(
        `listening on ${this.http.address}: /notify (forge push webhooks), /metrics, /healthz, /readyz and the status page`,
      );
    } catch (err) {
      this.output.err(
        `warning: ${errorMessage(err)}; /metrics and the status page are unavailable until notify.listen names a free host:port`,
      );
    }
  }

  /** Announces the remote head as last fetched or pushed (a `record` or `revert` from the command line may have moved it). */
  private heartbeat(): void {
    if (this.stopping) return;
    const repo = new NodeRepo(this.cfg.repo);
    const p = repo
      .resolve(repo.trackingRef)
      .catch(() => undefined)
      .then((head) => {
        if (head) this.remoteHead = head;
        if (this.remoteHead && !this.stopping) {
          this.lastHeartbeatSent = new Date().toISOString();
          this.notify({ node: this.cfg.node, commit: this.remoteHead, heartbeat: true });
        }
      })
      .finally(() => repo.close());
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  /** In the background: a standby that does not answer must not hold up the queue. */
  private notify(body: NotifyBody): void {
    if (this.cfg.notify.standbys.length === 0) return;
    const p = notifyStandbys(this.cfg, body).then((outcomes) => {
      for (const o of outcomes) {
        if (!o.ok)
          this.output.err(`notify ${o.url} failed: ${o.detail} (the standby catches up on its own fetch interval)`);
      }
    });
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }
}

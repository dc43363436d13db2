import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeConfig } from '../config/load.js';
import { errorMessage } from '../errors.js';
import { auditLog } from '../record/log.js';
import type { NodeRepo } from '../repo/node-repo.js';
import type { SyncResult } from '../sync/state.js';
import type { Handler } from '../util/http-server.js';
import { checkAccess, SESSION_COOKIE, sameSecret, sessionValue } from './access.js';
import { commitDiff } from './commit-diff.js';
import { ActivityLog, LagHistory, type Activity } from './history.js';
import { DaemonMetrics } from './metrics.js';
import { PAGE_CSS, PAGE_JS, renderPage, renderSections, type AuditItem, type PageData } from './page-render.js';
import type { NodeView } from './view.js';

const AUDIT_COMMITS = 20;
const SAMPLE_EVERY_MS = 30_000;
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/**
 * Everything an operator watches a daemon by, on the daemon's one listener: /metrics, /healthz,
 * /readyz, the status page (/ and /ui.json) and its login. Both daemons use it through a NodeView.
 */
export class Observer {
  readonly metrics: DaemonMetrics;
  readonly lag = new LagHistory();
  readonly activity = new ActivityLog();
  private audit?: { head: string | undefined; items: AuditItem[]; error?: string };
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly view: NodeView,
    private readonly repo: NodeRepo,
  ) {
    this.metrics = new DaemonMetrics(view);
    this.timer = setInterval(() => void this.sample().catch(() => {}), SAMPLE_EVERY_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** A sync the daemon ran: counted in the metrics and shown on the page. */
  syncFinished(r: SyncResult): void {
    this.metrics.observeSync(r);
    if (!r.upToDate && !r.dryRun) {
      this.activity.add({
        time: r.time,
        kind: 'sync',
        mode: r.mode,
        success: r.success,
        durationMs: r.durationMs,
        domains: r.domains,
        fromCommit: r.fromCommit,
        toCommit: r.toCommit,
        detail: r.error,
      });
    }
  }

  /**
   * A record or push of the primary. No lag sample here: sampling runs git, and nothing may
   * slow the record -> push -> notify path; the timer and the page's own requests sample.
   */
  note(a: Activity): void {
    this.activity.add(a);
  }

  async sample(): Promise<void> {
    const s = await this.view.snapshot();
    this.lag.add({ t: Date.now(), behindSeconds: s.behindSeconds, behindCommits: s.behindCommits });
  }

  routes(): Record<string, Handler> {
    const guard =
      (h: Handler): Handler =>
      (req, body, res) => {
        const a = checkAccess(req, this.cfg.notify.secret);
        if (a.ok) return h(req, body, res);
        if (req.url === '/' || req.url?.startsWith('/?'))
          return sendHtml(res, a.status, loginPage(a.reason, !!this.cfg.notify.secret));
        res
          .writeHead(a.status, {
            'content-type': 'text/plain',
            ...(a.status === 401 ? { 'www-authenticate': 'Bearer realm="gitfailover"' } : {}),
          })
          .end(`${a.reason}\n`);
      };
    return {
      'GET /healthz': (_req, _body, res) => sendJsonNoStore(res, 200, { ok: true }),
      'GET /readyz': async (_req, _body, res) => {
        const s = await this.view.snapshot();
        sendJsonNoStore(res, s.ready.ok ? 200 : 503, {
          ready: s.ready.ok,
          reason: s.ready.reason,
          behind: s.behindCommits,
          unpushed: s.unpushed,
        });
      },
      'GET /metrics': guard(async (_req, _body, res) => {
        const m = await this.metrics.render();
        res.writeHead(200, { 'content-type': m.contentType, 'cache-control': 'no-store' }).end(m.body);
      }),
      'GET /': guard(async (_req, _body, res) => sendHtml(res, 200, renderPage(await this.pageData()))),
      'GET /ui.json': guard(async (_req, _body, res) => {
        const d = await this.pageData();
        sendJsonNoStore(res, 200, {
          generatedAt: d.generatedAt,
          snapshot: d.snapshot,
          latestCommit: d.audit[0]?.commit ?? null,
          html: renderSections(d),
        });
      }),
      'GET /ui.js': guard(
        (_req, _body, res) =>
          void res
            .writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', ...SECURITY_HEADERS })
            .end(PAGE_JS),
      ),
      'GET /ui.css': guard(
        (_req, _body, res) =>
          void res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', ...SECURITY_HEADERS }).end(PAGE_CSS),
      ),
      'POST /login': (req, body, res) => this.login(req, body, res),
    };
  }

  /** Wraps a route of the daemon's own (e.g. /status) in the same access rule as the page. */
  guarded(h: Handler): Handler {
    return (req, body, res) => {
      const a = checkAccess(req, this.cfg.notify.secret);
      if (a.ok) return h(req, body, res);
      res.writeHead(a.status, { 'content-type': 'text/plain' }).end(`${a.reason}\n`);
    };
  }

  private login(_req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    const secret = this.cfg.notify.secret;
    const given = new URLSearchParams(body.toString('utf8')).get('secret') ?? '';
    if (!secret || !sameSecret(given, secret)) {
      sendHtml(
        res,
        401,
        loginPage(
          secret ? 'wrong secret' : 'this node has no notify.secret: only loopback may read the page',
          !!secret,
        ),
      );
      return;
    }
    // HttpOnly: the page's script never needs it; SameSite=Strict: no other site can ride on it.
    res
      .writeHead(303, {
        location: '/',
        'set-cookie': `${SESSION_COOKIE}=${sessionValue(secret)}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200`,
        ...SECURITY_HEADERS,
      })
      .end();
  }

  async pageData(): Promise<PageData> {
    const snapshot = await this.view.snapshot();
    this.lag.add({ t: Date.now(), behindSeconds: snapshot.behindSeconds, behindCommits: snapshot.behindCommits });
    const last = this.view.lastSync();
    if (last) this.syncFinished(last); // a sync run from the command line shows up too
    const head = snapshot.role === 'standby' ? snapshot.headCommit : (snapshot.appliedCommit ?? snapshot.headCommit);
    if (!this.audit || this.audit.head !== head) this.audit = await this.loadAudit(head);
    return {
      generatedAt: new Date().toISOString(),
      snapshot,
      samples: this.lag.list(),
      activity: this.activity.list(),
      audit: this.audit.items,
      auditError: this.audit.error,
    };
  }

  /** Cached per head: the trail only changes when the head does. */
  private async loadAudit(
    head: string | undefined,
  ): Promise<{ head: string | undefined; items: AuditItem[]; error?: string }> {
    try {
      const r = await auditLog(this.cfg, { fetch: false, max: AUDIT_COMMITS });
      const items: AuditItem[] = [];
      for (const e of r.entries) {
        items.push({
          commit: e.commit,
          time: e.time,
          author: e.author,
          node: e.node,
          subject: e.subject,
          pushed: e.pushed,
          changes: e.changes.map((c) => c.text),
          diff: await commitDiff(this.repo, e.commit),
        });
      }
      return { head, items };
    } catch (err) {
      return { head: undefined, items: [], error: `the audit trail could not be read: ${errorMessage(err)}` };
    }
  }
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS }).end(html);
}

function sendJsonNoStore(res: ServerResponse, status: number, value: unknown): void {
  res
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(`${JSON.stringify(value)}\n`);
}

function loginPage(reason: string, canLogin: boolean): string {
  const esc = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const form = canLogin
    ? '<form method="post" action="/login"><label>notify secret <input type="password" name="secret" autocomplete="current-password" required></label> <button type="submit">log in</button></form>'
    : '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>gitfailover: log in</title><link rel="icon" href="data:,"></head><body><p>${esc(reason)}</p>${form}</body></html>\n`;
}

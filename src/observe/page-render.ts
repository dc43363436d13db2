import type { FileDiff } from './commit-diff.js';
import { escapeControl } from '../util/escape.js';
import type { Activity, LagSample } from './history.js';
import type { NodeSnapshot } from './view.js';

/**
 * The status page, rendered on the server from data (pure: no I/O). The page's little script
 * fetches /ui.json every few seconds and swaps in the same fragments rendered here, so there is
 * one renderer and every byte that reaches the DOM went through escapeHtml.
 */

export interface AuditItem {
  commit: string;
  time: string;
  author: string;
  node: string | null;
  subject: string;
  pushed: boolean;
  changes: string[];
  diff: { files: FileDiff[]; more: number };
}

export interface PageData {
  generatedAt: string;
  snapshot: NodeSnapshot;
  samples: LagSample[];
  activity: Activity[];
  audit: AuditItem[];
  auditError?: string;
}

export type Sections = Record<'summary' | 'lag' | 'activity' | 'audit', string>;

/** HTML-escaped, and control characters shown escaped (`\x1b`): names on the page come from the repo. */
export function escapeHtml(text: string, opts: { keepTabs?: boolean } = {}): string {
  return escapeControl(text, opts).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const short = (c: string | undefined | null) => (c ? c.slice(0, 12) : '-');
const code = (c: string | undefined | null) =>
  c ? `<code title="${escapeHtml(c)}">${escapeHtml(short(c))}</code>` : '-';

export function renderPage(d: PageData): string {
  const s = renderSections(d);
  const title = `gitfailover ${d.snapshot.node} (${d.snapshot.role})`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui.css">
<script src="/ui.js" defer></script>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><span id="updated" class="muted">rendered ${escapeHtml(d.generatedAt)}</span></header>
<section id="summary">${s.summary}</section>
<section><h2>Lag, last hours</h2><div id="lag">${s.lag}</div></section>
<section><h2>Recent ${d.snapshot.role === 'standby' ? 'syncs' : 'records and pushes'}</h2><div id="activity">${s.activity}</div></section>
<section><h2>Audit trail</h2><div id="audit">${s.audit}</div></section>
</body>
</html>
`;
}

export function renderSections(d: PageData): Sections {
  return {
    summary: renderSummary(d.snapshot),
    lag: lagChart(d.samples, Date.parse(d.generatedAt)),
    activity: renderActivity(d.activity),
    audit: renderAudit(d.audit, d.snapshot, d.auditError),
  };
}

function renderSummary(s: NodeSnapshot): string {
  const rows: [string, string][] = [
    ['role', escapeHtml(s.role)],
    [s.role === 'standby' ? 'applied' : 'local head', code(s.appliedCommit)],
    ['remote head', code(s.headCommit)],
    [
      'behind',
      s.behindCommits === null
        ? 'history differs (a full sync is needed)'
        : `${s.behindCommits} commit(s), ${Math.round(s.behindSeconds)}s`,
    ],
    ['unpushed', String(s.unpushed)],
    ['last heartbeat', escapeHtml(s.lastHeartbeat ?? '-')],
    [
      'ready',
      `<span class="${s.ready.ok ? 'ok' : 'bad'}" id="ready">${s.ready.ok ? 'yes' : 'no'}</span> ${escapeHtml(s.ready.reason)}`,
    ],
  ];
  return `<table class="kv">${rows.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</table>`;
}

/** An inline SVG of seconds behind over time (no script, no library: it is a polyline). */
export function lagChart(samples: readonly LagSample[], now: number, width = 640, height = 120): string {
  if (samples.length === 0) return '<p class="muted">no samples yet</p>';
  const t0 = Math.min(samples[0]!.t, now - 3600_000);
  const span = Math.max(1, now - t0);
  const max = Math.max(1, ...samples.map((s) => s.behindSeconds));
  const pad = 4;
  const x = (t: number) => (pad + ((t - t0) / span) * (width - 2 * pad)).toFixed(1);
  const y = (v: number) => (height - pad - (v / max) * (height - 2 * pad)).toFixed(1);
  // A step line: the lag holds its value until the next sample.
  const pts: string[] = [];
  samples.forEach((s, i) => {
    if (i > 0) pts.push(`${x(s.t)},${y(samples[i - 1]!.behindSeconds)}`);
    pts.push(`${x(s.t)},${y(s.behindSeconds)}`);
  });
  pts.push(`${x(now)},${y(samples.at(-1)!.behindSeconds)}`);
  const hours = (span / 3600_000).toFixed(1);
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="seconds behind the remote head over the last ${hours} hours">
<line class="axis" x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}"/>
<polyline class="lag" points="${pts.join(' ')}"/>
<text x="${pad + 2}" y="14">max ${Math.round(max)}s</text>
<text x="${width - pad - 2}" y="${height - pad - 4}" text-anchor="end">now (${hours}h shown)</text>
</svg>`;
}

function renderActivity(items: readonly Activity[]): string {
  if (items.length === 0) return '<p class="muted">nothing yet since the daemon started</p>';
  const rows = items.map((a) => {
    const domains =
      a.domains.length > 8
        ? `${a.domains.slice(0, 8).join(', ')} and ${a.domains.length - 8} more`
        : a.domains.join(', ');
    return `<tr class="${a.success ? '' : 'failed'}"><td>${escapeHtml(a.time)}</td><td>${escapeHtml(a.kind)}${a.mode ? ` ${escapeHtml(a.mode)}` : ''}</td><td class="${a.success ? 'ok' : 'bad'}">${a.success ? 'ok' : 'FAILED'}</td><td>${a.durationMs === undefined ? '' : `${a.durationMs}ms`}</td><td>${code(a.fromCommit)} &rarr; ${code(a.toCommit)}</td><td>${escapeHtml(domains || '-')}</td><td>${escapeHtml(a.detail ?? '')}</td></tr>`;
  });
  return `<table class="list"><tr><th>time</th><th>what</th><th>result</th><th>duration</th><th>commits</th><th>domains</th><th>detail</th></tr>${rows.join('')}</table>`;
}

function renderAudit(items: readonly AuditItem[], s: NodeSnapshot, error: string | undefined): string {
  const head = error ? `<p class="bad">${escapeHtml(error)}</p>` : '';
  if (items.length === 0) return `${head}<p class="muted">no commits</p>`;
  const blocks = items.map((e) => {
    const tags = [
      e.commit === s.appliedCommit && s.role === 'standby' ? '<span class="tag">applied</span>' : '',
      e.commit === s.headCommit ? '<span class="tag">remote head</span>' : '',
      e.pushed ? '' : '<span class="tag bad">not pushed</span>',
    ].join('');
    const changes = e.changes.length ? `<ul>${e.changes.map((c) => `<li>${escapeHtml(c)}</li>`).join('')}</ul>` : '';
    const files = e.diff.files
      .map(
        (f) =>
          `<div class="file"><div class="path">${escapeHtml(f.status)} ${escapeHtml(f.path)}</div>${f.patch ? renderPatch(f.patch) : `<p class="muted">${escapeHtml(f.note ?? '')}</p>`}</div>`,
      )
      .join('');
    const more =
      e.diff.more > 0
        ? `<p class="muted">and ${e.diff.more} more file(s): git show ${escapeHtml(short(e.commit))}</p>`
        : '';
    return `<article class="commit" data-commit="${escapeHtml(e.commit)}"><div class="line">${code(e.commit)} <span class="subject">${escapeHtml(e.subject)}</span> ${tags}</div><div class="muted">${escapeHtml(e.time)} ${escapeHtml(e.author)}${e.node ? ` @ ${escapeHtml(e.node)}` : ''}</div>${changes}<details data-commit="${escapeHtml(e.commit)}"><summary>diff (${e.diff.files.length + e.diff.more} file(s))</summary>${files}${more}</details></article>`;
  });
  return head + blocks.join('');
}

/** A unified patch as HTML: one escaped line per row, coloured by its first character. */
export function renderPatch(patch: string): string {
  const lines = patch.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const out: string[] = [];
  for (const l of lines) {
    if (/^=+$/.test(l) || l.startsWith('Index: ')) continue; // the diff package's header, not part of the change
    const cls =
      l.startsWith('+++') || l.startsWith('---')
        ? 'hdr'
        : l.startsWith('@@')
          ? 'hunk'
          : l.startsWith('+')
            ? 'add'
            : l.startsWith('-')
              ? 'del'
              : l.startsWith('\\')
                ? 'meta'
                : 'ctx';
    out.push(`<span class="${cls}">${escapeHtml(l, { keepTabs: true })}</span>`);
  }
  return `<pre class="diff">${out.join('\n')}</pre>`;
}

export const PAGE_CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:1rem 2rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline}h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
.muted{color:#777}.ok{color:#17702c;font-weight:600}.bad{color:#b00020;font-weight:600}
table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px 2px 0;vertical-align:top}
table.list tr.failed td{background:#fff0f0}
.chart{border:1px solid #ddd;background:#fafafa}.chart .lag{fill:none;stroke:#2a6fdb;stroke-width:1.5}.chart .axis{stroke:#bbb}.chart text{font-size:10px;fill:#777}
.commit{border-top:1px solid #eee;padding:6px 0}.subject{font-weight:600}.tag{font-size:11px;border:1px solid #ccc;border-radius:3px;padding:0 4px;margin-left:4px}
pre.diff{background:#f7f7f7;padding:6px;overflow:auto;font-size:12px}.diff .add{color:#17702c}.diff .del{color:#b00020}.diff .hunk{color:#6f42c1}.diff .hdr{color:#555;font-weight:600}
.file .path{font-family:monospace;margin-top:6px}`;

/**
 * Polls /ui.json and swaps the fragments in. Diffs a person opened stay open across updates.
 * Served as a file (not inline) so the page's Content-Security-Policy can forbid inline script.
 */
export const PAGE_JS = `'use strict';
(function () {
  var ids = ['summary', 'lag', 'activity', 'audit'];
  var last = {};
  function update() {
    fetch('/ui.json', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(function (d) {
        var open = {};
        document.querySelectorAll('details[open]').forEach(function (e) { open[e.getAttribute('data-commit')] = true; });
        ids.forEach(function (id) {
          var el = document.getElementById(id);
          if (el && d.html[id] !== last[id] && d.html[id] !== undefined) { el.innerHTML = d.html[id]; last[id] = d.html[id]; }
        });
        document.querySelectorAll('details[data-commit]').forEach(function (e) { if (open[e.getAttribute('data-commit')]) e.open = true; });
        var u = document.getElementById('updated');
        if (u) u.textContent = 'updated ' + d.generatedAt;
      })
      .catch(function (e) {
        var u = document.getElementById('updated');
        if (u) u.textContent = 'update failed (' + e.message + '); retrying';
      });
  }
  setInterval(update, 3000);
  update();
})();
`;

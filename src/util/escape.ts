/**
 * The one escaping of names and text from the repo (or a live dir) before they reach a terminal,
 * an e-mail header or the status page: a file named `x\e[2J\n.conf` must not clear a screen or
 * forge a line. Control characters (C0, DEL, C1) show as `\n`, `\t`, `\r` or `\xNN`; line and
 * paragraph separators and bidirectional overrides (which reorder what a reader sees) as `\uNNNN`.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const UNSAFE_BUT_TAB = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(ch: string): string {
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  const c = ch.charCodeAt(0);
  return c <= 0xff ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
}

/** Text (a subject, a log line, an error): control characters escaped, everything else as it is. */
export function escapeControl(text: string, opts: { keepTabs?: boolean } = {}): string {
  return text.replace(opts.keepTabs ? UNSAFE_BUT_TAB : UNSAFE, escapeChar);
}

/** A path: as escapeControl, and a backslash doubled, so that an escaped name cannot pass for another. */
export function escapePath(path: string): string {
  return path.includes('\\') ? escapeControl(path.replaceAll('\\', '\\\\')) : escapeControl(path);
}

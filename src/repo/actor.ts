import { hostname, userInfo } from 'node:os';
import { ConfigError } from '../errors.js';

/** The git identity a command's `--actor` names (else the sudo user, else the login): author and Changed-By. */
export function parseActor(actor: string | undefined): { name: string; email: string } {
  const text = actor ?? process.env.SUDO_USER ?? safeUser();
  // The name goes into the commit's author and its Changed-By trailer: a newline would forge a trailer.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(text)) {
    throw new ConfigError(
      `--actor ${JSON.stringify(text)}: a name with a control character (a newline, a tab, an escape) would forge lines of the audit trail; give a plain name, such as "Ada Admin <ada@example.com>"`,
      { field: 'actor' },
    );
  }
  const m = /^(.*?)\s*<([^>]*)>$/.exec(text);
  if (m) return { name: m[1] || m[2]!, email: m[2]! };
  return { name: text, email: `${text.replace(/[^A-Za-z0-9._-]/g, '_')}@${hostname()}` };
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

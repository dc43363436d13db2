/**
 * The one redaction of the tool (Flux's rule: credentials are stripped from URLs before anything
 * is logged, printed or served). Every URL found in `text` loses what may be a secret:
 *  - userinfo (`https://user:token@host`) becomes `***@`;
 *  - every query value (`?token=abc`) becomes `***`, and a fragment is dropped;
 *  - every path segment that looks like a token rather than a word becomes `***`: one with an
 *    upper-case letter or a digit that is 8 characters or longer, or any 41 or longer (webhook
 *    URLs such as Slack's carry their secret in the path).
 * Plain words (`notify`, `mft-config.git`, `v1`) stay, so a message still says where it went.
 */
export function redact(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*):\/\/[^\s'"<>`]+/gi, (url) => redactUrl(url));
}

const MASK = '***';

function redactUrl(url: string): string {
  // Split by hand rather than with URL(): the text must come back as written (no added `/`, no
  // punycode, no percent-encoding changes), only with the secret parts masked.
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(url);
  if (!m) return url;
  const [, scheme, authority, path, query] = m;
  const at = authority!.lastIndexOf('@');
  const host = at >= 0 ? `${MASK}@${authority!.slice(at + 1)}` : authority!;
  const maskedPath = path!
    .split('/')
    .map((seg) => (looksLikeToken(seg) ? MASK : seg))
    .join('/');
  const maskedQuery = query
    ? '?' +
      query
        .slice(1)
        .split('&')
        .map((kv) => {
          const eq = kv.indexOf('=');
          return eq >= 0 ? `${kv.slice(0, eq)}=${MASK}` : kv;
        })
        .join('&')
    : '';
  return `${scheme}${host}${maskedPath}${maskedQuery}`;
}

function looksLikeToken(segment: string): boolean {
  if (segment.length >= 41) return true;
  return segment.length >= 8 && /[A-Z0-9]/.test(segment);
}

/**
 * Whether a field name is named like a secret: `password*`, `*Hash`, `*token`, `*secret`,
 * `*key` (camelCase, snake_case or kebab-case words, case-insensitive).
 */
/** The words of a field name, lower case: `passwordHash`, `password_hash`, `password-hash` -> [password, hash]. */
export function keyWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[\s_.-]+/)
    .filter(Boolean);
}

export function isSecretName(name: string): boolean {
  const words = keyWords(name);
  if (words.length === 0) return false;
  const last = words[words.length - 1]!;
  return (
    words[0]!.startsWith('passw') ||
    ['password', 'passwd', 'pass', 'pwd', 'passphrase', 'secret', 'token', 'key'].includes(last) ||
    (last === 'hash' && words.length > 1)
  );
}

/**
 * Lines of a text or a unified diff whose field is named like a secret (`passwordHash: ...`,
 * `"token": "..."`, `apiKey = ...`) keep their name and lose their value, so a diff on the status
 * page or in a dry run says that the field changed, never to what.
 */
export function maskSecretFields(text: string): string {
  return text.replace(
    /^([-+ ]?[ \t]*(?:- )?["']?)([A-Za-z_][A-Za-z0-9_.-]*)(["']?[ \t]*[:=][ \t]*)(\S.*)$/gm,
    (line, lead: string, key: string, sep: string, value: string) =>
      isSecretName(key) && !/^[|>&*]?\s*$/.test(value) ? `${lead}${key}${sep}***` : line,
  );
}

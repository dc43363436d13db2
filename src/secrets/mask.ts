import { isSecretField } from '../model/changes.js';

/** A line of a unified diff (or plain text) holding `key: value` / `key = value`, YAML list item or not. */
const FIELD_LINE = /^([+\- ]?\s*(?:-\s+)?["']?)([A-Za-z_][\w.-]*)(["']?\s*[:=]\s*)(\S.*)$/;

/**
 * Masks the values of secret-looking fields (`passwordHash`, `smtp_password`, `apiToken`: the rule
 * of the change list) in a diff shown to people: the status page and `sync --dry-run` show that
 * such a line changed, never what it holds. Headers (`---`, `+++`, `@@`) are left alone.
 */
export function maskSecretFields(patch: string): string {
  return patch
    .split('\n')
    .map((line) => {
      if (line.startsWith('+++') || line.startsWith('---') || line.startsWith('@@')) return line;
      const m = FIELD_LINE.exec(line);
      return m && isSecretField(m[2]!) ? `${m[1]}${m[2]}${m[3]}<masked>` : line;
    })
    .join('\n');
}

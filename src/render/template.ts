import { GitfailoverError } from '../errors.js';

/**
 * Node-local template variables (`substitution.vars`) fill `{{ name }}` placeholders.
 *
 * Syntax: `{{`, optional spaces/tabs, a name `[A-Za-z_][A-Za-z0-9_.-]*`, optional spaces/tabs, `}}`.
 * Anything else between braces (`{{#if}}`, `{{ a b }}`) is not a placeholder and is left as it is.
 *
 * Escape: `\{{` writes a literal `{{` (so `\{{ name }}` renders as `{{ name }}`). The escape only
 * applies in a file that uses at least one placeholder: a file without placeholders is copied
 * byte for byte, backslashes included, so configs that merely contain braces are never altered.
 *
 * A placeholder without a value is an error (E_TEMPLATE_VAR), never an empty string. Values are
 * inserted as they are and not scanned again.
 */

export interface Placeholder {
  name: string;
  /** Offset of `{{` in the text (UTF-16 units) and length of the whole placeholder. */
  index: number;
  length: number;
  /** 1-based line and column of `{{`. */
  line: number;
  col: number;
}

const TOKEN = /\\\{\{|\{\{[ \t]*([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*\}\}/g;

/** Every placeholder of `text`, in order (escaped `\{{` excluded). */
export function findPlaceholders(text: string): Placeholder[] {
  const found: Placeholder[] = [];
  if (!text.includes('{{')) return found;
  let line = 1;
  let lineStart = 0;
  let scanned = 0;
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(text); m !== null; m = TOKEN.exec(text)) {
    const name = m[1];
    if (name === undefined) continue; // escape
    for (let i = text.indexOf('\n', scanned); i !== -1 && i < m.index; i = text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    scanned = m.index;
    found.push({ name, index: m.index, length: m[0].length, line, col: m.index - lineStart + 1 });
  }
  return found;
}

/**
 * Fill the placeholders of `text` from `vars`. Returns `text` itself (the same string) when it has
 * no placeholder. `file` names the file in the error.
 */
export function renderTemplate(text: string, vars: Readonly<Record<string, string>>, file: string): string {
  const placeholders = findPlaceholders(text);
  if (placeholders.length === 0) return text;

  const missing = placeholders.filter((p) => !Object.hasOwn(vars, p.name));
  if (missing.length > 0) {
    const first = missing[0]!;
    const names = [...new Set(missing.map((p) => p.name))];
    const others = names.length > 1 ? ` (also without a value: ${names.slice(1).join(', ')})` : '';
    throw new GitfailoverError(
      'E_TEMPLATE_VAR',
      `${file}:${first.line}:${first.col}: template variable "${first.name}" has no value${others}; add it to substitution.vars in the node file`,
      {
        kind: 'stalling',
        location: { file, line: first.line, col: first.col, field: first.name },
        data: { variable: first.name, missing: names },
      },
    );
  }

  TOKEN.lastIndex = 0;
  return text.replace(TOKEN, (_whole: string, name: string | undefined) =>
    name === undefined ? '{{' : (vars[name] as string),
  );
}

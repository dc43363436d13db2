import { existsSync, readFileSync } from 'node:fs';
import { escapeControl } from '../util/escape.js';
import { fileURLToPath } from 'node:url';
import { flattenVariables, scalarText, type TriggerEvent, type Value, type Variables } from './events.js';

/**
 * E-mail templates: `{{ name }}` is replaced by the variable's text (lists joined with ", ",
 * null as "(none)", an absent variable as ""); `{{ name? }}` drops its whole line when the
 * variable is absent or empty, so optional details ("File at fault:") vanish instead of
 * showing a blank. Nothing else: a template is text, not a program.
 *
 * Template files start with a `Subject: ...` line and a blank line, then the body.
 */

/** From src/triggers/ and dist/triggers/ alike, the package's templates/email/. */
const TEMPLATE_DIR = fileURLToPath(new URL('../../templates/email/', import.meta.url));

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)(\?)?\s*\}\}/g;

export function fillTemplate(template: string, vars: Variables): string {
  const out: string[] = [];
  for (const line of template.split('\n')) {
    let drop = false;
    const filled = line.replace(PLACEHOLDER, (_m, name: string, optional: string | undefined) => {
      const has = Object.hasOwn(vars, name);
      const text = has ? valueText(vars[name]!) : '';
      if (optional && (!has || vars[name] === null || text === '')) drop = true;
      return text;
    });
    if (!drop) out.push(filled);
  }
  return out.join('\n');
}

function valueText(v: Value): string {
  if (Array.isArray(v)) return v.map(scalarText).join(', ');
  return v === null ? '(none)' : scalarText(v);
}

export interface EmailTemplate {
  subject: string;
  body: string;
}

/** Split a template file into its Subject line and body. */
export function parseEmailTemplate(text: string): EmailTemplate {
  const m = /^Subject:[ \t]*(.*)\r?\n(?:\r?\n)?/.exec(text);
  if (!m) return { subject: '[gitfailover] {{ event }} on {{ node }}', body: text };
  return { subject: m[1]!, body: text.slice(m[0].length) };
}

/** The default template's name for an event: sync-failed, sync-succeeded, <event>, or default. */
export function defaultTemplateName(event: TriggerEvent): string {
  if (event.event === 'sync') return event.success ? 'sync-succeeded' : 'sync-failed';
  const name = event.event.replace(/\./g, '-');
  return existsSync(`${TEMPLATE_DIR}${name}.txt`) ? name : 'default';
}

export function loadEmailTemplate(name: string): EmailTemplate {
  return parseEmailTemplate(readFileSync(`${TEMPLATE_DIR}${name}.txt`, 'utf8'));
}

/** Variables for templates: the event's, plus `details` (every variable, one per line). */
export function templateVariables(event: TriggerEvent): Variables {
  const vars = flattenVariables(event);
  const details = Object.entries(vars)
    .filter(
      ([k]) => !['event', 'node', 'time', 'commitsText', 'domainsText', 'commitSubjects', 'commitAuthors'].includes(k),
    )
    .map(([k, v]) => `  ${k}: ${valueText(v)}`)
    .join('\n');
  return { ...vars, details };
}

/** Subject and body of the e-mail for an event; the action's own templates win. */
export function renderEmail(event: TriggerEvent, custom: { subject?: string; body?: string } = {}): EmailTemplate {
  const vars = templateVariables(event);
  const def =
    custom.subject !== undefined && custom.body !== undefined
      ? undefined
      : loadEmailTemplate(defaultTemplateName(event));
  // A header line: a newline from an error text or a name must not inject headers, nor an escape
  // sequence reach a mail reader's terminal; both are shown escaped.
  const subject = escapeControl(fillTemplate(custom.subject ?? def!.subject, vars)).slice(0, 300);
  return { subject, body: fillTemplate(custom.body ?? def!.body, vars) };
}

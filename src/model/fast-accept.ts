import jsyaml from 'js-yaml';
import { classifyPath, DEFAULT_DOMAINS_DIR } from './layout.js';
import { domainSchema, userSchema } from './schemas.js';

/**
 * The fast path of a file check, for the two kinds that make up nearly every file of a config
 * repo (users/<u>.yaml and domain.yaml: 21 of a domain's 22 files). It answers one question,
 * "would parseConfigFile find no problem in this file?", and may only answer yes when that is
 * certain; any doubt answers no, and the caller runs the canonical check (`yaml` parseDocument,
 * positions, messages), which is then the verdict. So the fast path can make a check faster but
 * never change its outcome, and every refusal still comes from the canonical check.
 *
 * Why: js-yaml 4 parses these files several times faster than the `yaml` package, and parsing is
 * most of a cold full sync's CPU (figures in bench/findings.md and BENCHMARKS.md).
 *
 * How it stays equal to the canonical check:
 * - Only a plain subset of YAML reaches js-yaml: printable ASCII and newlines; no tab, CR,
 *   anchor, alias, tag, directive, block scalar, flow mapping, complex key, backslash escape,
 *   document marker, or line over 1,000 characters (`yaml` refuses implicit keys over 1,024),
 *   and no scalar over more than one line (js-yaml's listener sees where each one starts and ends).
 *   What is left (block mappings and sequences, flow sequences, plain and quoted scalars,
 *   comments) the two parsers read the same way; test/unit/model/fast-accept.test.ts checks it
 *   on hand-picked and on 20,000 mutated files.
 * - js-yaml's CORE_SCHEMA resolves a few plain scalars differently from `yaml`'s core schema
 *   (`0b11`, `-0x1` are numbers to js-yaml, strings to `yaml`; `-.5e+3` the other way round).
 *   Every string js-yaml returns is tested against `yaml`'s null, bool, int and float patterns:
 *   a string `yaml` might have read as something else answers no. A number or boolean where the
 *   schema wants a string fails the schema here too, which answers no.
 * - The same zod schema and the same name checks as parseConfigFile.
 */

/**
 * Text outside the subset: anything but printable ASCII and newlines; the indicators of anchors,
 * aliases, tags, directives, block scalars, flow mappings, complex keys, reserved ones and
 * escapes; a `#` right after another character (a comment must follow white space, which
 * js-yaml does not insist on after a closing bracket or quote); document markers; an empty
 * sequence entry or a sequence nested on one line (`- - a`: after either js-yaml let entries of
 * other indents join the sequence); long lines.
 */
const OUTSIDE_SUBSET = /[^\n\x20-\x7e]|[&*!%|>{}?@`\\<]|[^ \n]#|^(?:---|\.\.\.)|^ *-(?: *$| +-)/m;
const LONG_LINE = /[^\n]{1001}/;

/**
 * `yaml`'s core schema: the plain scalars it resolves to null, bool, int or float, one pattern
 * each in yaml/dist/schema/core and common/null, joined here in the same order.
 */
const YAML_CORE_NON_STRING = new RegExp(
  [
    /^(?:~|[Nn]ull|NULL)?$/,
    /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/,
    /^0o[0-7]+$/,
    /^[-+]?[0-9]+$/,
    /^0x[0-9a-fA-F]+$/,
    /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
    /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/,
    /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/,
  ]
    .map((re) => `(?:${re.source})`)
    .join('|'),
);
/** The first characters those patterns can start with (all ASCII): a cheap test before the pattern. */
const NON_STRING_FIRST = new Set('~nNtTfF0123456789+-.'.split('').map((ch) => ch.charCodeAt(0)));

/** Whether every string in `v` (values and keys) is one `yaml` would also have read as a string. */
function stringsAgree(v: unknown): boolean {
  if (typeof v === 'string')
    return v.length > 0 && (!NON_STRING_FIRST.has(v.charCodeAt(0)) || !YAML_CORE_NON_STRING.test(v));
  if (Array.isArray(v)) return v.every(stringsAgree);
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) if (!stringsAgree(k) || !stringsAgree(x)) return false;
  }
  return true;
}

/**
 * True only when parseConfigFile(path, text) would return no problems; false means "not known":
 * run the canonical check. Only user files and domain.yaml are ever answered true.
 */
export function passesFastCheck(path: string, text: string, domainsDir: string = DEFAULT_DOMAINS_DIR): boolean {
  return fastAccept(path, text, domainsDir) !== undefined;
}

/**
 * passesFastCheck, with the value js-yaml read when it passes: the same value `yaml` reads as far
 * as strings go (keys and string values alike); a number or boolean in a key no schema knows may
 * differ (js-yaml reads `0b11` as 3), so use it only for checks on strings.
 */
export function fastAccept(
  path: string,
  text: string,
  domainsDir: string = DEFAULT_DOMAINS_DIR,
): { value: unknown } | undefined {
  const c = classifyPath(path, domainsDir);
  if (c.kind !== 'domain' || (c.file !== 'user' && c.file !== 'domain')) return undefined;
  if (OUTSIDE_SUBSET.test(text) || (text.length > 1000 && LONG_LINE.test(text))) return undefined;
  let value: unknown;
  // Scalars over more than one line (quoted or plain): `yaml` is stricter than js-yaml about how
  // their continuation lines are indented, so a file with one goes to the canonical check.
  // Flow sequences likewise must close on the line they open on.
  const opened: { line: number; position: number }[] = [];
  let multiLine = false;
  try {
    value = jsyaml.load(text, {
      schema: jsyaml.CORE_SCHEMA,
      listener(event, state) {
        if (event === 'open') {
          opened.push({ line: state.line, position: state.position });
          return;
        }
        const open = opened.pop()!;
        if (open.line === state.line) return;
        if (
          state.kind === 'scalar' ||
          (state.kind === 'sequence' && /^\s*\[/.test(text.slice(open.position, open.position + 200)))
        )
          multiLine = true;
      },
    });
  } catch {
    return undefined;
  }
  if (multiLine || !stringsAgree(value)) return undefined;
  // An empty file is an empty mapping, as in parseConfigFile.
  const input = value ?? {};
  let ok: boolean;
  if (c.file === 'domain') {
    const r = domainSchema.safeParse(input);
    ok = r.success && (r.data.name === undefined || r.data.name === c.domain);
  } else {
    const r = userSchema.safeParse(input);
    ok = r.success && (r.data.name === undefined || r.data.name === c.user);
  }
  return ok ? { value } : undefined;
}

import type { z } from 'zod';
import { classifyPath, DEFAULT_DOMAINS_DIR, type PathClass } from './layout.js';
import { domainSchema, servicesFileSchema, serverSchema, userSchema } from './schemas.js';
import type { ConfigModel, DomainModel, DomainSettings, Service, User } from './types.js';
import { formatPath, parseYamlSource, positionOf, type YamlSource } from '../util/yaml-source.js';

/**
 * Config repo files -> typed model. Pure: the caller reads the files (from disk or git) and
 * passes their text; nothing here touches the file system.
 */

/** One thing wrong with the config repo, always located so an editor or CI can point at it. */
export interface Problem {
  /** Path inside the config repo, `/`-separated. */
  file: string;
  line: number;
  col: number;
  /** `services[0].port`, when the problem is about one field. */
  field?: string;
  /** Stable: tests and tools match on it, never on the message. */
  code: string;
  message: string;
}

/** Stable problem codes (validate.ts adds the tree-level ones). */
export const PROBLEM = {
  yaml: 'E_YAML',
  schema: 'E_SCHEMA',
  ip: 'E_IP_INVALID',
  port: 'E_PORT_INVALID',
  nameMismatch: 'E_NAME_MISMATCH',
  duplicateService: 'E_SERVICE_DUPLICATE',
  notRead: 'E_NOT_READ',
} as const;

/** A file of the layout, parsed; `value` is undefined when it did not parse or match its schema. */
export type ParsedFile =
  | { kind: 'server'; path: string; source: YamlSource; value?: Record<string, unknown>; problems: Problem[] }
  | { kind: 'domain'; path: string; domain: string; source: YamlSource; value?: DomainSettings; problems: Problem[] }
  | { kind: 'services'; path: string; domain: string; source: YamlSource; value?: Service[]; problems: Problem[] }
  | { kind: 'user'; path: string; domain: string; user: string; source: YamlSource; value?: User; problems: Problem[] }
  /** triggers.yaml: only its YAML syntax is checked here (the triggers module owns its schema). */
  | { kind: 'triggers'; path: string; domain: string; source: YamlSource; value?: unknown; problems: Problem[] }
  /** Any file outside the layout's YAML files: replicated verbatim, never parsed. */
  | { kind: 'other'; path: string; class: PathClass; problems: Problem[] };

/** Does the model need this file's text (a YAML file of the layout)? Other files need only their id. */
export function isModelFile(path: string, domainsDir: string = DEFAULT_DOMAINS_DIR): boolean {
  const c = classifyPath(path, domainsDir);
  return c.kind === 'server' || (c.kind === 'domain' && c.file !== 'other');
}

export function parseConfigFile(path: string, text: string, domainsDir: string = DEFAULT_DOMAINS_DIR): ParsedFile {
  const c = classifyPath(path, domainsDir);
  if (c.kind === 'server') {
    const r = parseWith(path, text, serverSchema);
    return { kind: 'server', path, source: r.source, value: r.value, problems: r.problems };
  }
  if (c.kind !== 'domain' || c.file === 'other') return { kind: 'other', path, class: c, problems: [] };
  const { domain } = c;

  if (c.file === 'triggers') {
    const source = parseYamlSource(path, text);
    return { kind: 'triggers', path, domain, source, value: source.value, problems: yamlProblems(source) };
  }
  if (c.file === 'domain') {
    const r = parseWith(path, text, domainSchema);
    let value: DomainSettings | undefined;
    if (r.value) {
      if (r.value.name !== undefined && r.value.name !== domain) {
        r.problems.push(
          at(
            r.source,
            ['name'],
            PROBLEM.nameMismatch,
            `name: "${r.value.name}" differs from the domain folder "${domain}"; a domain is named by its folder`,
          ),
        );
      } else {
        value = { ...r.value, name: domain, enabled: r.value.enabled };
      }
    }
    return { kind: 'domain', path, domain, source: r.source, value, problems: r.problems };
  }
  if (c.file === 'services') {
    const r = parseWith(path, text, servicesFileSchema);
    let value: Service[] | undefined;
    if (r.value) {
      value = r.value.services as Service[];
      // Services are matched by name across commits, so a name must be unique in its domain.
      const seen = new Map<string, number>();
      value.forEach((s, i) => {
        const first = seen.get(s.name);
        if (first === undefined) seen.set(s.name, i);
        else {
          const p = positionOf(r.source, ['services', first, 'name']);
          r.problems.push(
            at(
              r.source,
              ['services', i, 'name'],
              PROBLEM.duplicateService,
              `services[${i}].name: service "${s.name}" is already defined at line ${p.line}`,
            ),
          );
        }
      });
    }
    return { kind: 'services', path, domain, source: r.source, value, problems: r.problems };
  }
  // c.file === 'user'
  const user = c.user!;
  const r = parseWith(path, text, userSchema);
  let value: User | undefined;
  if (r.value) {
    if (r.value.name !== undefined && r.value.name !== user) {
      r.problems.push(
        at(
          r.source,
          ['name'],
          PROBLEM.nameMismatch,
          `name: "${r.value.name}" differs from the file name "${user}.yaml"; a user is named by its file`,
        ),
      );
    } else {
      value = { ...r.value, name: user };
    }
  }
  return { kind: 'user', path, domain, user, source: r.source, value, problems: r.problems };
}

function parseWith<S extends z.ZodType>(
  path: string,
  text: string,
  schema: S,
): { source: YamlSource; value?: z.output<S>; problems: Problem[] } {
  const source = parseYamlSource(path, text);
  const problems = yamlProblems(source);
  if (problems.length > 0) return { source, problems };
  // An empty file is an empty mapping: an empty services.yaml means "no services".
  const parsed = schema.safeParse(source.value ?? {});
  if (parsed.success) return { source, value: parsed.data, problems };
  for (const issue of parsed.error.issues) problems.push(issueProblem(source, issue));
  return { source, problems };
}

function yamlProblems(source: YamlSource): Problem[] {
  return source.errors.map((e) => ({ file: e.file, line: e.line, col: e.col, code: PROBLEM.yaml, message: e.message }));
}

function issueProblem(source: YamlSource, issue: z.core.$ZodIssue): Problem {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  const field = formatPath(path);
  const last = path[path.length - 1];
  // ip and port get their own codes: they are the errors a person most often makes by hand.
  const code =
    path[0] === 'services' && last === 'ip'
      ? PROBLEM.ip
      : path[0] === 'services' && last === 'port'
        ? PROBLEM.port
        : PROBLEM.schema;
  let message: string;
  if (path.length === 0 && issue.code === 'invalid_type') message = 'the file must be a YAML mapping (key: value)';
  else message = `${field}: ${issue.message}${gotValue(source.value, path, issue)}`;
  return at(source, path, code, message);
}

/** " (got 70000)" for a scalar that was present, so the message shows what is wrong. */
function gotValue(root: unknown, path: (string | number)[], issue: z.core.$ZodIssue): string {
  let v: unknown = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return '';
    v = (v as Record<string | number, unknown>)[k];
  }
  if (v === undefined || issue.message.includes('required')) return '';
  if (typeof v === 'string') return ` (got "${v.length > 60 ? `${v.slice(0, 57)}...` : v}")`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return ` (got ${String(v)})`;
  return '';
}

/** A problem at the field `path` of a parsed file. */
export function at(source: YamlSource, path: (string | number)[], code: string, message: string): Problem {
  const { line, col } = positionOf(source, path);
  const field = formatPath(path);
  return { file: source.file, line, col, ...(field ? { field } : {}), code, message };
}

/** One file of a tree: its repo path, git blob id, and its text when it is a model file. */
export interface ModelEntry {
  path: string;
  id: string;
  /** Required for files where isModelFile() is true; ignored for the others. */
  text?: string;
}

export interface ParsedTree {
  model: ConfigModel;
  /** Every problem of every parsed file, sorted by file, line, column. */
  problems: Problem[];
  /** The parsed YAML files by path, so later checks can locate fields (validate.ts). */
  files: Map<string, ParsedFile>;
}

export function parseTree(entries: readonly ModelEntry[], domainsDir: string = DEFAULT_DOMAINS_DIR): ParsedTree {
  const model: ConfigModel = { domains: new Map(), files: new Map() };
  const files = new Map<string, ParsedFile>();
  const problems: Problem[] = [];
  const domainOf = (name: string): DomainModel => {
    let d = model.domains.get(name);
    if (!d) {
      d = { name, services: [], users: new Map(), files: new Map(), layoutFiles: new Map() };
      model.domains.set(name, d);
    }
    return d;
  };

  // Sorted, so that the model (and the Maps' iteration order) does not depend on the caller's order.
  for (const entry of [...entries].sort((a, b) => cmp(a.path, b.path))) {
    const c = classifyPath(entry.path, domainsDir);
    if (c.kind === 'meta') continue;
    if (c.kind === 'global') {
      model.files.set(entry.path, entry.id);
      continue;
    }
    const domain = c.kind === 'domain' ? domainOf(c.domain) : undefined;
    if (c.kind === 'domain' && (c.file === 'other' || c.file === 'triggers')) domain!.files.set(c.rel, entry.id);
    if (c.kind === 'domain' && c.file === 'other') continue;

    if (entry.text === undefined) {
      problems.push({
        file: entry.path,
        line: 1,
        col: 1,
        code: PROBLEM.notRead,
        message: 'the file was not read, so it could not be checked',
      });
      if (c.kind === 'domain' && c.file !== 'triggers') domain!.files.set(c.rel, entry.id);
      continue;
    }
    const rel = c.kind === 'domain' ? c.rel : entry.path;
    const parsed = parseConfigFile(entry.path, entry.text, domainsDir);
    files.set(entry.path, parsed);
    problems.push(...parsed.problems);
    switch (parsed.kind) {
      case 'server':
        model.server = parsed.value;
        model.serverId = entry.id;
        break;
      case 'domain':
        domain!.settings = parsed.value;
        domain!.layoutFiles!.set(rel, entry.id);
        break;
      case 'services':
        domain!.services = parsed.value ?? [];
        domain!.layoutFiles!.set(rel, entry.id);
        break;
      case 'user':
        if (parsed.value) domain!.users.set(parsed.user, parsed.value);
        domain!.layoutFiles!.set(rel, entry.id);
        break;
      default:
        break;
    }
  }
  return { model, problems: sortProblems(problems), files };
}

/** The typed model of a tree (problems ignored: call treeProblems or validateTree to refuse bad input). */
export function buildModel(entries: readonly ModelEntry[], domainsDir: string = DEFAULT_DOMAINS_DIR): ConfigModel {
  return parseTree(entries, domainsDir).model;
}

/** Every parse and schema problem of a set of files. */
export function treeProblems(entries: readonly ModelEntry[], domainsDir: string = DEFAULT_DOMAINS_DIR): Problem[] {
  return parseTree(entries, domainsDir).problems;
}

export function sortProblems(problems: Problem[]): Problem[] {
  return problems.sort(
    (a, b) =>
      cmp(a.file, b.file) || a.line - b.line || a.col - b.col || cmp(a.code, b.code) || cmp(a.message, b.message),
  );
}

/** Code-point order, never locale order: the same result on every machine. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

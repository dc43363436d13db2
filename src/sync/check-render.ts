import { GitfailoverError, type Location } from '../errors.js';
import { admitParsed, admitText, admitTriggers, plaintextPasswords } from '../model/admit.js';
import { classifyPath } from '../model/layout.js';
import { fastAccept } from '../model/fast-accept.js';
import { isModelFile, parseConfigFile, type Problem } from '../model/parse.js';
import { renderFile, type RenderOptions } from '../render/render-file.js';
import type { Document } from 'yaml';

/**
 * The per-file work of a sync between reading the target and applying it: check a file (parse
 * and schema) and render it for this node. Pure, one file at a time, and the same function runs
 * in the sync's own thread (small syncs) or in check workers (check-pool.ts: full syncs), so the
 * two can never disagree.
 */
export interface FileJob {
  path: string;
  content: Buffer;
  /** false for a blob the known-good list already vouches for: render only. */
  check: boolean;
}

export interface FileVerdict {
  problems: Problem[];
  /** A checked services.yaml that passed: its services as `ip|port|name` (bindingOf), before IP substitution. */
  bindings?: string[];
  /** The bytes for the live dir, only when they differ from the content. */
  rendered?: Buffer;
  /** Why the file could not be rendered (a template variable missing, ...); only for a file without problems. */
  renderError?: { code: string; message: string; location: Location };
}

/** What a check worker needs to build the same RenderOptions as the sync (the node file's `substitution`). */
export interface RenderSettings {
  substitution: {
    ips: Readonly<Record<string, string>>;
    files: readonly string[];
    vars: Readonly<Record<string, string>>;
  };
  /** The node file, for messages about the substitution section. */
  file?: string;
  domainsDir: string;
}

export function checkAndRender(job: FileJob, opts: RenderOptions, domainsDir: string): FileVerdict {
  const out: FileVerdict = { problems: [] };
  let doc: Document.Parsed | undefined;
  if (job.check && isModelFile(job.path, domainsDir)) {
    // The admission rules (admit.ts), as validate and record run them: strict UTF-8, parse and
    // schema, then the rules on the parsed file.
    const decoded = admitText(job.path, job.content);
    if (decoded.text === undefined) {
      out.problems.push(...decoded.problems);
      return out;
    }
    const text = decoded.text;
    // Most files (users, domain.yaml) pass here in a fraction of the time; a file the fast
    // path is not sure of gets the canonical check below, which gives the verdict.
    const fast = fastAccept(job.path, text, domainsDir);
    if (fast && plaintextPasswords(fast.value).length === 0) return render(job, opts, out);
    const parsed = parseConfigFile(job.path, text, domainsDir);
    if (parsed.kind === 'services') doc = parsed.source.doc;
    out.problems.push(...parsed.problems, ...admitParsed(parsed));
    if (parsed.kind === 'services' && out.problems.length === 0) out.bindings = (parsed.value ?? []).map(bindingOf);
    // The triggers module owns its schema: a bad triggers.yaml refuses the commit like any other file.
    if (parsed.kind === 'triggers' && parsed.problems.length === 0) out.problems.push(...admitTriggers(job.path, text));
  }
  if (out.problems.length > 0) return out;
  return render(job, opts, out, doc);
}

/**
 * A service as the check hands it on (and checked-blobs keeps it): `ip|port|name`, the name
 * URI-encoded so that no `|`, `,`, tab or line break of a name can split the record. The name
 * travels only so that a substitution.unmapped event can say which service it is.
 */
export function bindingOf(s: { ip: string; port: number; name: string }): string {
  return `${s.ip}|${s.port}|${encodeURIComponent(s.name)}`;
}

export function parseBinding(b: string): { ip: string; port: string; name: string } {
  const [ip = '', port = '', name = ''] = b.split('|');
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    // Only a damaged checked-blobs line gets here; the address, which is what counts, is intact.
  }
  return { ip, port, name: decoded };
}

function render(job: FileJob, opts: RenderOptions, out: FileVerdict, doc?: Document.Parsed): FileVerdict {
  try {
    const rendered = renderFile(job.path, job.content, opts, doc);
    if (rendered !== job.content) out.rendered = rendered;
  } catch (err) {
    if (!(err instanceof GitfailoverError)) throw err;
    out.renderError = { code: err.code, message: err.message, location: { ...err.location } };
  }
  return out;
}

/**
 * Whether a file needs any work here: a check (not vouched for) or a render that may change it.
 * The cheap tests of renderFile, so that the 200,000 plain user files of a warm full sync are
 * never sent to a worker.
 */
export function needsWork(job: FileJob, opts: RenderOptions, domainsDir: string): boolean {
  if (job.check) return true;
  if (job.content.includes('{{')) return true;
  if (opts.ipMap.entries.length === 0) return false;
  const c = classifyPath(job.path, domainsDir);
  return (c.kind === 'domain' && c.file === 'services') || opts.substituteGlobs.length > 0;
}

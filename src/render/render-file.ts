import picomatch from 'picomatch';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, Scalar, type Document, type Node } from 'yaml';
import { GitfailoverError } from '../errors.js';
import { classifyPath, DEFAULT_DOMAINS_DIR } from '../model/layout.js';
import { EMPTY_IP_MAP, parseIpMap, type IpMap } from './ip-map.js';
import { substituteIp, substituteText } from './substitute.js';
import { renderTemplate } from './template.js';
import { isSecretPath } from '../model/secret-paths.js';

export interface RenderOptions {
  /** parseIpMap(node.substitution.ips) */
  ipMap: IpMap;
  /** node.substitution.files: globs of repo paths whose text gets IP substitution */
  substituteGlobs: readonly string[];
  /** node.substitution.vars */
  vars: Readonly<Record<string, string>>;
  /** The folder holding the domains (`live.domains` without `/*`); default `domains`. */
  domainsDir?: string;
}

/**
 * RenderOptions from the node file's `substitution` section (validated here: a bad IP map throws
 * ConfigError naming `substitution.ips.<key>` in `file`). Build once per sync, reuse per file.
 */
export function renderOptionsFor(
  substitution: {
    ips: Readonly<Record<string, string>>;
    files: readonly string[];
    vars: Readonly<Record<string, string>>;
  },
  file?: string,
  domainsDir?: string,
): RenderOptions {
  return {
    ipMap: parseIpMap(substitution.ips, file),
    substituteGlobs: substitution.files,
    vars: substitution.vars,
    ...(domainsDir === undefined ? {} : { domainsDir }),
  };
}

/** Bytes sniffed for a NUL to call a file binary (git's own heuristic). */
const BINARY_SNIFF = 8192;

/**
 * Render one file of the config repo for this node: what the live dir gets for `path`.
 * Pure: bytes in, bytes out.
 *
 *  1. Binary files (a NUL byte in the first 8 KB) are returned untouched.
 *  2. Template: a file containing `{{` gets its `{{ name }}` placeholders filled from `vars`
 *     (a file without a placeholder stays byte-identical; a missing value throws E_TEMPLATE_VAR).
 *     Templates run first, so `services.yaml` may use them, and a variable's value is then subject
 *     to IP substitution like the rest of the file.
 *  3. `<domainsDir>/<d>/services.yaml`: every service's `ip` is substituted as an address, by
 *     rewriting that scalar only (same quoting); comments and layout stay byte-identical.
 *  4. Paths matching `substituteGlobs` (picomatch, dotfiles included): whole-address substitution
 *     in the text (see substituteText), also for a services.yaml the globs name.
 *
 * Returns the `content` Buffer itself when nothing changed, so callers can skip by identity.
 * Text is handled byte-exactly: valid UTF-8 is decoded as UTF-8 (a BOM is kept), anything else
 * byte-for-byte as latin1 (addresses and placeholders are ASCII either way).
 */
export function renderFile(path: string, content: Buffer, opts: RenderOptions, parsed?: Document.Parsed): Buffer {
  // Ciphertext (`x.age`) is never rendered: a `{{` or an address in its bytes is chance, and
  // changing one byte breaks it. Its plaintext is rendered when opened, if declared textual.
  if (isBinary(content) || isSecretPath(path)) return content;

  const ipMap = opts.ipMap ?? EMPTY_IP_MAP;
  const hasIps = ipMap.entries.length > 0;
  const templated = content.includes('{{');
  const cls = classifyPath(path, opts.domainsDir ?? DEFAULT_DOMAINS_DIR);
  const services = hasIps && cls.kind === 'domain' && cls.file === 'services';
  const textual = hasIps && matcherFor(opts.substituteGlobs)(path);
  if (!templated && !services && !textual) return content;

  const decoded = decode(content);
  const original = decoded.text;
  let text = original;
  if (templated) text = renderTemplate(text, decoded.utf8 ? opts.vars : latin1Values(opts.vars), path);
  // A services.yaml the caller already parsed (sync's check) is not parsed again: the document
  // of the UTF-8 text is that of this text unless a template changed it.
  if (services) text = substituteServicesYaml(text, ipMap, path, !templated && decoded.utf8 ? parsed : undefined);
  if (textual) text = substituteText(text, ipMap).text;
  if (text === original) return content;
  return Buffer.from(text, decoded.utf8 ? 'utf8' : 'latin1');
}

/** A NUL byte in the first 8 KB. */
export function isBinary(content: Uint8Array): boolean {
  const end = Math.min(content.length, BINARY_SNIFF);
  for (let i = 0; i < end; i++) if (content[i] === 0) return true;
  return false;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decode(content: Buffer): { text: string; utf8: boolean } {
  try {
    return { text: utf8Decoder.decode(content), utf8: true };
  } catch {
    return { text: content.toString('latin1'), utf8: false };
  }
}

/** In a latin1-decoded file, a value must be inserted as its UTF-8 bytes. */
function latin1Values(vars: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(vars)) out[k] = Buffer.from(v, 'utf8').toString('latin1');
  return out;
}

const matchers = new WeakMap<readonly string[], (path: string) => boolean>();

function matcherFor(globs: readonly string[]): (path: string) => boolean {
  if (globs.length === 0) return () => false;
  let m = matchers.get(globs);
  if (m === undefined) {
    m = picomatch([...globs], { dot: true });
    matchers.set(globs, m);
  }
  return m;
}

/**
 * services.yaml (`services: [{name, protocol, ip, port}]`, or a bare list): replace the source
 * text of each `ip` scalar whose address the map names, keeping its quoting; nothing else moves.
 */
export function substituteServicesYaml(text: string, map: IpMap, file: string, parsed?: Document.Parsed): string {
  if (map.entries.length === 0) return text;
  const lines = new LineCounter();
  const doc =
    parsed && parsed.errors.length === 0 ? parsed : parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lines.linePos(e.pos[0]);
    throw new GitfailoverError(
      'E_RENDER_YAML',
      `${file}:${pos.line}:${pos.col}: cannot substitute IPs: invalid YAML: ${e.message.split('\n')[0]}`,
      {
        kind: 'stalling',
        location: { file, line: pos.line, col: pos.col },
      },
    );
  }
  const root = doc.contents;
  const list = isMap(root) ? root.get('services', true) : root;
  if (!isSeq(list)) return text;

  const edits = new Map<number, { end: number; source: string }>();
  for (const item of list.items) {
    if (!isMap(item)) continue;
    let node: unknown = item.get('ip', true);
    if (isAlias(node)) node = node.resolve(doc);
    if (!isScalar(node) || typeof node.value !== 'string' || node.range == null) continue;
    const to = substituteIp(node.value, map);
    if (to === node.value) continue;
    const source = scalarSource(node, to);
    if (source === undefined) continue;
    edits.set(node.range[0], { end: node.range[1], source });
  }
  if (edits.size === 0) return text;

  let out = '';
  let last = 0;
  for (const [start, e] of [...edits].sort((a, b) => a[0] - b[0])) {
    out += text.slice(last, start) + e.source;
    last = e.end;
  }
  return out + text.slice(last);
}

/** The new scalar in the style of the old one; addresses need no escaping in any of them. */
function scalarSource(node: Scalar & Node, value: string): string | undefined {
  switch (node.type) {
    case Scalar.PLAIN:
      return value;
    case Scalar.QUOTE_DOUBLE:
      return `"${value}"`;
    case Scalar.QUOTE_SINGLE:
      return `'${value}'`;
    default:
      return undefined; // a block scalar for an address: leave it to the text globs
  }
}

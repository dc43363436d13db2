import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Document, type Node } from 'yaml';

/**
 * A YAML document parsed with positions, so that every problem found later (schema, duplicate
 * binding, bad IP) can name the line and column of the field at fault.
 */
export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** The plain JS value, or undefined when the document did not parse. */
  value: unknown;
  /** Parse errors (already located). */
  errors: YamlProblem[];
}

export interface YamlProblem {
  file: string;
  line: number;
  col: number;
  field?: string;
  message: string;
}

/** Limits that stop YAML bombs: aliases are capped by `yaml` itself (maxAliasCount). */
const MAX_ALIAS_COUNT = 100;

export function parseYamlSource(file: string, text: string): YamlSource {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const errors: YamlProblem[] = doc.errors.map((e) => {
    const pos = lines.linePos(e.pos[0]);
    return { file, line: pos.line, col: pos.col, message: `invalid YAML: ${firstLine(e.message)}` };
  });
  let value: unknown;
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (err) {
      errors.push({ file, line: 1, col: 1, message: `invalid YAML: ${firstLine((err as Error).message)}` });
    }
  }
  return { file, doc, lines, value, errors };
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

/** Line and column (1-based) of the node at `path`, or of its nearest existing ancestor. */
export function positionOf(
  src: YamlSource,
  path: readonly (string | number)[],
  opts: { key?: boolean } = {},
): { line: number; col: number } {
  for (let n = path.length; n >= 0; n--) {
    const node = nodeAt(src.doc, path.slice(0, n), opts.key === true && n === path.length);
    if (node?.range) {
      const pos = src.lines.linePos(node.range[0]);
      return { line: pos.line, col: pos.col };
    }
  }
  return { line: 1, col: 1 };
}

/** The node at `path`: a map entry's value, or with `atKey` the last entry's key itself. */
function nodeAt(doc: Document.Parsed, path: readonly (string | number)[], atKey = false): Node | undefined {
  let node: unknown = doc.contents;
  for (const [i, key] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) return undefined;
      node = atKey && i === path.length - 1 ? pair.key : (pair.value ?? pair.key);
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
    } else {
      return undefined;
    }
  }
  return (node ?? undefined) as Node | undefined;
}

/** `a.b[2].c` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

import { GitfailoverError } from '../errors.js';
import type { Scalar, Value, Variables } from './events.js';

/**
 * The trigger condition language (`if:`), parsed by hand so that no text from a node file or a
 * config repo ever reaches eval/Function. Grammar, loosest binding first:
 *
 *   expr    := and ('or' and)*
 *   and     := not ('and' not)*
 *   not     := 'not' not | compare
 *   compare := operand (('==' | '!=' | '<' | '>' | '<=' | '>=') operand
 *                      | 'not'? 'in' (list | operand))?
 *   operand := literal | identifier | '(' expr ')'
 *   list    := '[' (literal (',' literal)*)? ']'
 *   literal := 'single' | "double" | number | true | false | null
 *   identifier := name ('.' name)*         (names: letters, digits, _ and -)
 *
 * Semantics (evaluate never throws: a condition is data about an event, not a program):
 *  - An unknown variable reads as null; `validate` warns about names the event does not offer
 *    (see unknownVariables), because a typo would otherwise silently never match.
 *  - `==`/`!=` compare type and value, no coercion: `success == "false"` is false for a boolean.
 *  - `<`, `>`, `<=`, `>=` compare two numbers, or two strings (ISO times sort as text);
 *    any other pair is false.
 *  - `x in [..]` / `x in listVariable`: membership; `"text" in stringVariable`: substring.
 *  - `and`/`or`/`not` use truthiness: false, null, 0, "" and [] are false.
 */

export type Condition =
  | { type: 'literal'; value: Scalar }
  | { type: 'list'; items: Scalar[] }
  | { type: 'var'; name: string; col: number }
  | { type: 'not'; operand: Condition }
  | { type: 'and' | 'or'; left: Condition; right: Condition }
  | { type: 'compare'; op: CompareOp; left: Condition; right: Condition }
  | { type: 'in'; negated: boolean; left: Condition; right: Condition };

export type CompareOp = '==' | '!=' | '<' | '>' | '<=' | '>=';

type Token =
  | { kind: 'string'; value: string; col: number }
  | { kind: 'number'; value: number; col: number }
  | { kind: 'word'; value: string; col: number }
  | { kind: 'op'; value: string; col: number }
  | { kind: 'end'; value: ''; col: number };

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false', 'null']);
const MAX_LENGTH = 2000;
const MAX_DEPTH = 50;

export function conditionError(text: string, col: number, problem: string): GitfailoverError {
  return new GitfailoverError('E_CONDITION', `condition "${text}" at column ${col}: ${problem}`, {
    kind: 'stalling',
    data: { condition: text, column: col, problem },
    location: { col },
  });
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    const col = i + 1;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '"' || ch === "'") {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw conditionError(text, col, 'unterminated string');
        const c = text[j]!;
        if (c === ch) break;
        if (c === '\\' && j + 1 < text.length) {
          const n = text[j + 1]!;
          value += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          j += 2;
        } else {
          value += c;
          j++;
        }
      }
      tokens.push({ kind: 'string', value, col });
      i = j + 1;
    } else if (/[0-9]/.test(ch) || (ch === '-' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^-?\d+(\.\d+)?/.exec(text.slice(i))!;
      if (/[A-Za-z_]/.test(text[i + m[0].length] ?? ''))
        throw conditionError(text, col, `malformed number "${text.slice(i).split(/[\s()]/)[0]}"`);
      tokens.push({ kind: 'number', value: Number(m[0]), col });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(ch)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*/.exec(text.slice(i))!;
      tokens.push({ kind: 'word', value: m[0], col });
      i += m[0].length;
    } else {
      const two = text.slice(i, i + 2);
      if (['==', '!=', '<=', '>='].includes(two)) {
        tokens.push({ kind: 'op', value: two, col });
        i += 2;
      } else if ('<>()[],'.includes(ch)) {
        tokens.push({ kind: 'op', value: ch, col });
        i++;
      } else if (two === '&&' || two === '||') {
        throw conditionError(text, col, `"${two}" is not an operator: write ${two === '&&' ? '"and"' : '"or"'}`);
      } else if (ch === '=') {
        throw conditionError(text, col, 'a single "=" is not an operator: write "==" to compare');
      } else if (ch === '!') {
        throw conditionError(text, col, '"!" is not an operator: write "not" (or "!=" to compare)');
      } else {
        throw conditionError(text, col, `unexpected character "${ch}"`);
      }
    }
  }
  tokens.push({ kind: 'end', value: '', col: text.length + 1 });
  return tokens;
}

/** Parse a condition; a GitfailoverError with code E_CONDITION and the 1-based column otherwise. */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: a recursive-descent parser: its rules are closures over one cursor
export function parseCondition(text: string): Condition {
  if (text.length > MAX_LENGTH)
    throw conditionError(`${text.slice(0, 40)}…`, 1, `longer than ${MAX_LENGTH} characters`);
  if (text.trim() === '') throw conditionError(text, 1, 'empty condition');
  const tokens = tokenize(text);
  let pos = 0;
  let depth = 0;
  const peek = () => tokens[pos]!;
  const next = () => tokens[pos++]!;
  const isWord = (t: Token, w: string) => t.kind === 'word' && t.value === w;
  const isOp = (t: Token, o: string) => t.kind === 'op' && t.value === o;
  const describe = (t: Token) =>
    t.kind === 'end' ? 'end of condition' : t.kind === 'string' ? `string "${t.value}"` : `"${t.value}"`;
  const fail = (t: Token, expected: string): never => {
    throw conditionError(text, t.col, `expected ${expected} but found ${describe(t)}`);
  };

  function expr(): Condition {
    if (++depth > MAX_DEPTH) throw conditionError(text, peek().col, 'nested too deeply');
    let left = and();
    while (isWord(peek(), 'or')) {
      next();
      left = { type: 'or', left, right: and() };
    }
    depth--;
    return left;
  }
  function and(): Condition {
    let left = not();
    while (isWord(peek(), 'and')) {
      next();
      left = { type: 'and', left, right: not() };
    }
    return left;
  }
  function not(): Condition {
    if (isWord(peek(), 'not')) {
      next();
      if (++depth > MAX_DEPTH) throw conditionError(text, peek().col, 'nested too deeply');
      const operand = not();
      depth--;
      return { type: 'not', operand };
    }
    return compare();
  }
  function compare(): Condition {
    const left = operand();
    const t = peek();
    if (t.kind === 'op' && ['==', '!=', '<', '>', '<=', '>='].includes(t.value)) {
      next();
      return { type: 'compare', op: t.value as CompareOp, left, right: operand() };
    }
    let negated = false;
    if (isWord(t, 'not') && isWord(tokens[pos + 1]!, 'in')) {
      next();
      negated = true;
    }
    if (isWord(peek(), 'in')) {
      next();
      const right = isOp(peek(), '[') ? list() : operand();
      return { type: 'in', negated, left, right };
    }
    if (negated) fail(peek(), '"in"');
    return left;
  }
  function operand(): Condition {
    const t = next();
    switch (t.kind) {
      case 'string':
      case 'number':
        return { type: 'literal', value: t.value };
      case 'word':
        if (t.value === 'true' || t.value === 'false') return { type: 'literal', value: t.value === 'true' };
        if (t.value === 'null') return { type: 'literal', value: null };
        if (KEYWORDS.has(t.value)) return fail(t, 'a value or variable');
        return { type: 'var', name: t.value, col: t.col };
      case 'op':
        if (t.value === '(') {
          const inner = expr();
          if (!isOp(peek(), ')')) fail(peek(), '")"');
          next();
          return inner;
        }
        if (t.value === '[') return fail(t, 'a value or variable (a [list] may only follow "in")');
        return fail(t, 'a value or variable');
      case 'end':
        return fail(t, 'a value or variable');
    }
  }
  function list(): Condition {
    next(); // '['
    const items: Scalar[] = [];
    if (isOp(peek(), ']')) {
      next();
      return { type: 'list', items };
    }
    for (;;) {
      const t = next();
      if (t.kind === 'string' || t.kind === 'number') items.push(t.value);
      else if (isWord(t, 'true') || isWord(t, 'false')) items.push(t.value === 'true');
      else if (isWord(t, 'null')) items.push(null);
      else fail(t, 'a literal in the list');
      const sep = next();
      if (isOp(sep, ']')) break;
      if (!isOp(sep, ',')) fail(sep, '"," or "]"');
    }
    return { type: 'list', items };
  }

  const ast = expr();
  if (peek().kind !== 'end') fail(peek(), '"and", "or" or the end of the condition');
  return ast;
}

/** Evaluate a parsed condition against an event's variables. Never throws. */
export function evaluate(ast: Condition, vars: Variables): boolean {
  return truthy(valueOfAst(ast, vars));
}

function valueOfAst(ast: Condition, vars: Variables): Value {
  switch (ast.type) {
    case 'literal':
      return ast.value;
    case 'list':
      return ast.items;
    case 'var':
      return Object.hasOwn(vars, ast.name) ? vars[ast.name]! : null;
    case 'not':
      return !truthy(valueOfAst(ast.operand, vars));
    case 'and':
      return truthy(valueOfAst(ast.left, vars)) && truthy(valueOfAst(ast.right, vars));
    case 'or':
      return truthy(valueOfAst(ast.left, vars)) || truthy(valueOfAst(ast.right, vars));
    case 'compare':
      return compareValues(ast.op, valueOfAst(ast.left, vars), valueOfAst(ast.right, vars));
    case 'in': {
      const found = contains(valueOfAst(ast.right, vars), valueOfAst(ast.left, vars));
      return ast.negated ? !found : found;
    }
  }
}

function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return v !== null && v !== false && v !== 0 && v !== '';
}

function same(a: Value, b: Value): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => x === b[i]);
  }
  return a === b;
}

function compareValues(op: CompareOp, a: Value, b: Value): boolean {
  if (op === '==') return same(a, b);
  if (op === '!=') return !same(a, b);
  const ordered = (typeof a === 'number' && typeof b === 'number') || (typeof a === 'string' && typeof b === 'string');
  if (!ordered) return false;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case '<':
      return x < y;
    case '>':
      return x > y;
    case '<=':
      return x <= y;
    case '>=':
      return x >= y;
  }
}

function contains(haystack: Value, needle: Value): boolean {
  if (Array.isArray(haystack)) return !Array.isArray(needle) && haystack.some((x) => x === needle);
  if (typeof haystack === 'string' && typeof needle === 'string') return haystack.includes(needle);
  return false;
}

/** Every variable name a condition reads, with its column (for `validate` warnings). */
export function conditionVariables(ast: Condition): { name: string; col: number }[] {
  switch (ast.type) {
    case 'var':
      return [{ name: ast.name, col: ast.col }];
    case 'not':
      return conditionVariables(ast.operand);
    case 'and':
    case 'or':
    case 'compare':
    case 'in':
      return [...conditionVariables(ast.left), ...conditionVariables(ast.right)];
    default:
      return [];
  }
}

/** Names the condition reads that are not in `known` (an event's variables): typos, most likely. */
export function unknownVariables(ast: Condition, known: readonly string[]): { name: string; col: number }[] {
  return conditionVariables(ast).filter((v) => !known.includes(v.name));
}

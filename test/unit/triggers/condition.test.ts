import { describe, expect, it } from 'vitest';
import { GitfailoverError } from '../../../src/errors.js';
import { evaluate, parseCondition, unknownVariables } from '../../../src/triggers/condition.js';

const vars = {
  success: false,
  mode: 'full',
  node: 'failover-1',
  durationMs: 1500,
  domains: ['acme', 'globex'],
  error: 'services.yaml: port 99999 out of range',
  fromCommit: null,
};

const check = (text: string) => evaluate(parseCondition(text), vars);

describe('condition: valid expressions', () => {
  it.each([
    ['success == false', true],
    ['success != false', false],
    ['not success', true],
    ['success == "false"', false], // no coercion between types
    ["mode == 'full'", true],
    ['durationMs > 1000 and durationMs <= 1500', true],
    ['durationMs < 1000 or mode == "partial"', false],
    ['not (durationMs >= 1000)', false],
    ['"acme" in domains', true],
    ['"initech" in domains', false],
    ['"initech" not in domains', true],
    ['mode in ["full", "partial"]', true],
    ['durationMs in [1, 2, 3]', false],
    ['"port" in error', true], // substring
    ['fromCommit == null', true],
    ['missing == null', true], // unknown variables read as null
    ['missing', false],
    ['missing > 3', false], // ordering needs two numbers or two strings
    ['success == false and ("acme" in domains or mode == "partial")', true],
    ['a.b.c == null', true],
    ['-1 < 0', true],
    ['true', true],
    ['0', false],
    ['"x\\"y" == \'x"y\'', true],
    ['node >= "failover-0"', true],
  ])('%s -> %s', (text, expected) => {
    expect(check(text)).toBe(expected);
  });

  it('binds and tighter than or, not tighter than and', () => {
    expect(check('true or false and false')).toBe(true);
    expect(check('not false and false')).toBe(false);
  });
});

describe('condition: malformed expressions name the column', () => {
  it.each([
    ['success ==', 11, 'expected a value or variable but found end of condition'],
    ['success = false', 9, 'a single "=" is not an operator'],
    ['success == false &&  mode == "full"', 18, '"&&" is not an operator'],
    ['(success == false', 18, 'expected ")"'],
    ['success == false)', 17, 'expected "and", "or" or the end'],
    ['mode == "full', 9, 'unterminated string'],
    ['mode in [1, x]', 13, 'expected a literal in the list'],
    ['mode in [1 2]', 12, 'expected "," or "]"'],
    ['success == [1]', 12, 'a [list] may only follow "in"'],
    ['success and', 12, 'expected a value or variable'],
    ['a not b', 3, 'expected "and", "or" or the end'],
    ['x == 12abc', 6, 'malformed number'],
    ['x == $y', 6, 'unexpected character "$"'],
    ['', 1, 'empty condition'],
  ])('%s -> column %i', (text, col, problem) => {
    let err: unknown;
    try {
      parseCondition(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GitfailoverError);
    const g = err as GitfailoverError;
    expect(g.code).toBe('E_CONDITION');
    expect(g.data.column).toBe(col);
    expect(g.location.col).toBe(col);
    expect(String(g.data.problem)).toContain(problem);
    expect(g.message).toContain(`at column ${col}`);
  });

  it('refuses pathological nesting instead of overflowing the stack', () => {
    expect(() => parseCondition(`${'('.repeat(500)}true${')'.repeat(500)}`)).toThrow(/nested too deeply/);
    expect(() => parseCondition(`${'not '.repeat(200)}true`)).toThrow(/nested too deeply/);
  });

  it('never evaluates text as code', () => {
    // would be truthy under eval; here it is a syntax error
    expect(() => parseCondition('process.exit(1)')).toThrow(GitfailoverError);
    expect(check('constructor == null')).toBe(true); // own variables only, no prototype lookups
  });
});

describe('unknownVariables', () => {
  it('lists names the event does not offer, with their column', () => {
    expect(unknownVariables(parseCondition('sucess == false and mode == "full"'), ['success', 'mode'])).toEqual([
      { name: 'sucess', col: 1 },
    ]);
  });
});

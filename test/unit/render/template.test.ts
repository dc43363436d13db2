import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GitfailoverError } from '../../../src/errors.js';
import { findPlaceholders, renderTemplate } from '../../../src/render/template.js';

function thrown(fn: () => unknown): GitfailoverError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GitfailoverError) return err;
    throw err;
  }
  throw new Error('expected a GitfailoverError');
}

describe('findPlaceholders', () => {
  it('finds names with optional whitespace, with line and column', () => {
    const text = 'a {{x}}\n  b {{ host.name }} {{\tport-2 }}\n{{_v}}';
    expect(findPlaceholders(text).map((p) => [p.name, p.line, p.col])).toEqual([
      ['x', 1, 3],
      ['host.name', 2, 5],
      ['port-2', 2, 21],
      ['_v', 3, 1],
    ]);
  });

  it('ignores what is not a placeholder and the \\{{ escape', () => {
    expect(findPlaceholders('{{#if a}} {{ a b }} {{1x}} {{}} { {x} } \\{{ x }}')).toEqual([]);
  });
});

describe('renderTemplate', () => {
  const vars = { host: 'standby.example.com', port: '2222', 'ftp.ip': '10.1.0.5' };

  it('fills placeholders', () => {
    expect(renderTemplate('host={{ host }}:{{port}} ip={{ftp.ip}}\n', vars, 'f')).toBe(
      'host=standby.example.com:2222 ip=10.1.0.5\n',
    );
  });

  it('returns the same string when there is no placeholder, escapes and all', () => {
    const text = 'regex \\{{2}\\} {{#each}} plain';
    expect(renderTemplate(text, vars, 'f')).toBe(text);
  });

  it('turns \\{{ into a literal {{ in a file that uses placeholders', () => {
    expect(renderTemplate('{{ host }} \\{{ host }} \\{{x', vars, 'f')).toBe('standby.example.com {{ host }} {{x');
  });

  it('inserts values verbatim, without rescanning or $-patterns', () => {
    expect(renderTemplate('{{a}}', { a: '{{b}} $& $1' }, 'f')).toBe('{{b}} $& $1');
  });

  it('does not read inherited properties as values', () => {
    expect(thrown(() => renderTemplate('{{ constructor }}', {}, 'f')).code).toBe('E_TEMPLATE_VAR');
  });

  it('refuses a placeholder without a value, naming file, line, column and variable', () => {
    const err = thrown(() =>
      renderTemplate(
        'ok {{ host }}\nport {{ port }}\n  {{ missing_one }} {{ two }} {{ missing_one }}',
        vars,
        'domains/a/x.conf',
      ),
    );
    expect(err.code).toBe('E_TEMPLATE_VAR');
    expect(err.kind).toBe('stalling');
    expect(err.location).toEqual({ file: 'domains/a/x.conf', line: 3, col: 3, field: 'missing_one' });
    expect(err.data).toEqual({ variable: 'missing_one', missing: ['missing_one', 'two'] });
    expect(err.message).toContain('domains/a/x.conf:3:3');
    expect(err.message).toContain('missing_one');
    expect(err.message).toContain('substitution.vars');
  });

  it('renders any text without braces unchanged (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (text) => {
        fc.pre(!text.includes('{{'));
        expect(renderTemplate(text, {}, 'f')).toBe(text);
      }),
    );
  });

  it('fills every placeholder with its value (property)', () => {
    const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,8}$/);
    const plain = fc.string({ maxLength: 10 }).filter((s) => !s.includes('{') && !s.includes('}') && !s.includes('\\'));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(plain, name, fc.constantFrom('', ' ', '  ', '\t')), { maxLength: 10 }),
        fc.string({ maxLength: 10 }),
        (parts, value) => {
          const text = parts.map(([p, n, ws]) => `${p}{{${ws}${n}${ws}}}`).join('');
          const vars = Object.fromEntries(parts.map(([, n]) => [n, value]));
          expect(renderTemplate(text, vars, 'f')).toBe(parts.map(([p]) => p + value).join(''));
        },
      ),
    );
  });
});

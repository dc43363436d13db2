import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../../src/model/admit.js';
import { ROOT } from '../../helpers/fixture.js';

describe('README lists every admission rule', () => {
  it('each code of RULES has a table row with what it means and how to fix it', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const missing = RULES.map((r) => r.code).filter((code) => {
      const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
      const cells = row?.split(' | ').map((c) => c.replace(/^\|\s*|\s*\|$/g, '').trim());
      return !cells || cells.length < 3 || cells.slice(1).some((c) => c.length < 3);
    });
    expect(missing).toEqual([]);
  });
});

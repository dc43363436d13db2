import { execFile } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/fixture.js';

/**
 * `npm run depcheck` (pretest, so CI) runs dependency-cruiser with .dependency-cruiser.cjs. This
 * shows it would fail: a copy of src/ with one import that points up a layer, one cycle, one import
 * of repo/git.ts from outside repo/ and one folder in no layer must give exactly those violations, no more (so the
 * untouched tree passes) and no fewer (so each rule fires).
 */
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'gf-layers-'));
  cpSync(join(ROOT, 'src'), join(tmp, 'src'), { recursive: true });
  for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(join(ROOT, f), join(tmp, f));
  symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('dependency rules', () => {
  it('refuse a back-edge, a cycle and git outside repo/, and nothing else in src/', async () => {
    const add = (path: string, text: string) => {
      mkdirSync(dirname(join(tmp, path)), { recursive: true });
      appendFileSync(join(tmp, path), text);
    };
    // model is below sync: the config-repo model may not borrow from the standby pipeline.
    add('src/sync/probe.ts', 'export const probe = 1;\n');
    add('src/model/layout.ts', "\nexport { probe as _backEdge } from '../sync/probe.js';\n");
    // two modules that need each other (reported once per cycle)
    add('src/util/cycle-a.ts', "export { b } from './cycle-b.js';\nexport const a = 1;\n");
    add('src/util/cycle-b.ts', "export { a } from './cycle-a.js';\nexport const b = 1;\n");
    add('src/sync/git-probe.ts', "export { git } from '../repo/git.js';\n");
    add('src/misc/unlayered.ts', "export { redact } from '../util/redact.js';\n");

    // the CI command itself, as package.json spells it
    const r = await promisify(execFile)('npm', ['run', '--silent', 'depcheck'], { cwd: tmp }).catch(
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect('code' in r ? r.code : 0, r.stdout + r.stderr).not.toBe(0);
    const seen = [...r.stdout.matchAll(/^\s*error (\S+): (\S+) →\s+(\S+)/gm)]
      .map((m) => `${m[1]}: ${m[2]} -> ${m[3]}`)
      .sort();
    expect(seen).toEqual([
      'git-private-to-repo: src/sync/git-probe.ts -> src/repo/git.ts',
      'layer-model: src/model/layout.ts -> src/sync/probe.ts',
      'no-circular: src/util/cycle-a.ts -> src/util/cycle-b.ts',
      'unlayered-folder: src/misc/unlayered.ts -> src/util/redact.ts',
    ]);
  }, 120_000);
});

import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Longest test files first, by the seconds each took in a whole-suite run (durations.json, rewritten
 * with `npm run test:durations`). CI starts from a fresh clone with no vitest cache, where the
 * default order (larger files first) started two 90 s files last and left one worker idle at the end.
 */
const seconds: Record<string, number> = JSON.parse(
  readFileSync(new URL('./durations.json', import.meta.url), 'utf8'),
) as Record<string, number>;
const UNKNOWN = 30; // a new file: somewhere in the middle

export default class LongFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cost = (f: TestSpecification) => seconds[relative(this.ctx.config.root, f.moduleId)] ?? UNKNOWN;
    return [...files].sort((a, b) => cost(b) - cost(a));
  }
}

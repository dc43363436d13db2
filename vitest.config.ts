import { availableParallelism } from 'node:os';
import { configDefaults, defineConfig } from 'vitest/config';
import LongFirst from './test/setup/long-first.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/tools/ holds the registry test's own npm tools (verdaccio, a workflow linter): their
    // packages' test files are not ours and never run.
    exclude: [...configDefaults.exclude, 'test/tools/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The suite mostly waits on child processes (git, daemons, servers): two files at once even on a
    // 2-core runner, where vitest's default (cores - 1) would run one file at a time.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // The longest files start first, so neither worker is left with one at the end.
    sequence: { sequencer: LongFirst },
    // prints which suites were skipped for a missing Debian package (test/helpers/system.ts)
    globalSetup: ['test/setup/system-skips.ts'],
  },
});

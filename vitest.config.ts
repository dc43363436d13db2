import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // prints which suites were skipped for a missing Debian package (test/helpers/system.ts)
    globalSetup: ['test/setup/system-skips.ts'],
  },
});

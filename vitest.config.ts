import { defineConfig } from 'vitest/config';

// pool 'forks': a segfault in a worker thread would kill the whole run without a report; crash
// cases run in their own child processes anyway (test/helpers/child.ts).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    // Every debug runtime a test makes ends without leaked references or blocks.
    setupFiles: ['test/setup/leak-check.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'commands/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each test file owns its servers and databases; files run in parallel workers.
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});

import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    // Two files at a time: much of a file's time is spent waiting on a Python start or a shader compile, so two
    // workers halve the wall time on CI's 2 cores (11 → 6 min measured); more would only contend for SwiftShader.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

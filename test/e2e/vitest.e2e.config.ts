import { defineConfig } from 'vitest/config';

// Browser end-to-end tests: Playwright drives Debian's Chromium (WebGPU on SwiftShader) against the
// production build served by `vite preview`.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 180_000,
  },
});

import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'vite';

/**
 * Builds bench.html alone into a private folder `<root>/dist` (with `index.html` a copy of it, which
 * `openPage` checks for) and returns `<root>`. The bench then needs only the engine modules it
 * imports to compile, and never overwrites the shared dist/ that e2e tests may be serving.
 * Options mirror vite.config.ts (relative base, ES workers, es2022).
 */
export async function buildBenchOnly(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'retort-bench-'));
  const outDir = join(root, 'dist');
  await build({
    configFile: false,
    root: resolve('.'),
    base: './',
    logLevel: 'warn',
    worker: { format: 'es' },
    build: { target: 'es2022', outDir, emptyOutDir: true, rollupOptions: { input: { bench: resolve('bench.html') } } },
  });
  copyFileSync(join(outDir, 'bench.html'), join(outDir, 'index.html'));
  return root;
}

import { defineConfig } from 'vite';

export default defineConfig({
  // Relative base so the built playground works from any static folder.
  base: './',
  worker: { format: 'es' },
  server: { port: 5173, strictPort: false },
  preview: { port: 4173 },
  build: {
    target: 'es2022',
    sourcemap: true,
    // The playground, and the engine harness the browser tests and benches drive.
    rollupOptions: { input: { main: 'index.html', harness: 'harness.html', bench: 'bench.html' } },
  },
  optimizeDeps: { exclude: ['@huggingface/transformers', 'onnxruntime-web'] },
});

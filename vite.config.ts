import { defineConfig } from 'vite';

export default defineConfig({
  // Relative base so the built playground works from any static folder.
  base: './',
  worker: { format: 'es' },
  server: { port: 5173, strictPort: false },
  preview: { port: 4173 },
  build: { target: 'es2022', sourcemap: true },
  optimizeDeps: { exclude: ['@huggingface/transformers', 'onnxruntime-web'] },
});

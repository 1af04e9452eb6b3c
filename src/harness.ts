import { wrap } from 'comlink';
import type { EngineApi } from '../workers/engine.worker.ts';

/** The engine worker, reachable from Playwright as `window.engine`. */
const engine = wrap<EngineApi>(new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' }));
(window as unknown as { engine: typeof engine }).engine = engine;
const out = document.getElementById('out')!;
engine.env().then(
  (env) => (out.textContent = `adapter: ${env.adapter}\nsoftware: ${env.isSoftware}\nfeatures: ${JSON.stringify(env.features)}`),
  (e: Error) => (out.textContent = `no WebGPU: ${e.message}`),
);

import { proxy, wrap } from 'comlink';
import { isTerminalState, type TelemetryEvent } from './core/telemetry.ts';
import type { EngineApi } from '../workers/engine.worker.ts';

/** The engine worker, reachable from Playwright as `window.engine`. */
const engine = wrap<EngineApi>(new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' }));
(window as unknown as { engine: typeof engine }).engine = engine;
/**
 * Every event of a job up to its final state (the callback must be a comlink proxy, which Playwright
 * cannot make). Callbacks travel on their own channel, so the call's return can overtake the last
 * events: the final state event, not the return, ends the wait.
 */
(window as unknown as { jobEvents: (job: string) => Promise<TelemetryEvent[]> }).jobEvents = (job) =>
  new Promise((resolve, reject) => {
    const events: TelemetryEvent[] = [];
    const onEvent = (e: TelemetryEvent) => {
      events.push(e);
      if (e.type === 'state' && isTerminalState(e.state)) resolve(events);
    };
    engine.events(job, -1, proxy(onEvent)).catch(reject);
  });
const out = document.getElementById('out')!;
engine.env().then(
  (env) => (out.textContent = `adapter: ${env.adapter}\nsoftware: ${env.isSoftware}\nfeatures: ${JSON.stringify(env.features)}`),
  (e: Error) => (out.textContent = `no WebGPU: ${e.message}`),
);

/** What the route modules share: the runner's parts and its settings. */
import type { EventHub } from './event-hub.ts';
import type { ExecutorConfig } from './executor.ts';
import type { JobManager } from './jobs.ts';
import type { ModelService } from './models.ts';
import type { SseOptions } from './sse.ts';
import type { JobStore } from './store.ts';
import type { Workspace } from './workspace.ts';

export interface ServerOptions {
  token: string;
  allowOrigins: string[];
  /** Largest JSON body (bytes); larger → 413. */
  bodyLimit: number;
  /** Largest upload through PUT /v1/files (bytes); larger → 413. */
  maxUploadBytes: number;
  sse: SseOptions;
}

export interface RunnerContext {
  options: ServerOptions;
  workspace: Workspace;
  store: JobStore;
  hub: EventHub;
  jobs: JobManager;
  models: ModelService;
  executor: ExecutorConfig;
}

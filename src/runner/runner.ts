/**
 * A runner: workspace + job store + queue + serve worker + HTTP server, started and stopped as one.
 * `retort runner` (src/cli/runner.ts) is this with command-line options; tests start it in-process.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { RunnerContext, ServerOptions } from './context.ts';
import { EventHub } from './event-hub.ts';
import { type ExecutorConfig, type GpuInfo, TORCH_PACKAGE_DIR, detectGpus, findPython } from './executor.ts';
import { JobManager } from './jobs.ts';
import { ModelService } from './models.ts';
import { SERVE_MODULE, WORKER_MODULE } from './protocol.ts';
import { ServeWorker } from './serve-worker.ts';
import { DEFAULT_ORIGINS, buildServer } from './server.ts';
import { JobStore } from './store.ts';
import { Workspace } from './workspace.ts';

export interface RunnerOptions {
  workspace: string;
  host?: string; // default 127.0.0.1 (loopback only)
  port?: number; // default 7860; 0 = any free port
  token?: string; // default: RETORT_TOKEN, else random
  allowOrigins?: string[]; // default: the playground's dev and preview origins
  serve?: string[]; // model folders served at /v1/chat/completions
  bodyLimit?: number; // JSON bodies (bytes), default 1 MiB
  maxUploadBytes?: number; // PUT /v1/files (bytes), default 16 GiB
  stopGraceMs?: number; // SIGTERM → SIGKILL (ms), default 60 s
  gpus?: GpuInfo[]; // default: nvidia-smi
  /** Override how workers start (tests point this at fake workers). */
  executor?: Partial<ExecutorConfig>;
  serveModule?: string; // default retort_torch.serve
  sseHeartbeatMs?: number;
}

export interface Runner {
  url: string; // http://host:port
  token: string;
  workspace: string;
  context: RunnerContext;
  server: FastifyInstance;
  /** Stop accepting requests, stop workers (they checkpoint; their jobs resume at the next start), close the store. */
  close(): Promise<void>;
}

export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  const workspace = await Workspace.open(opts.workspace);
  const store = new JobStore(join(workspace.root, 'runner.db'));
  const hub = new EventHub();
  const executor: ExecutorConfig = {
    python: opts.executor?.python ?? findPython(),
    pythonPath: opts.executor?.pythonPath ?? [TORCH_PACKAGE_DIR],
    workerModule: opts.executor?.workerModule ?? WORKER_MODULE,
    gpus: opts.gpus ?? opts.executor?.gpus ?? detectGpus(),
  };
  const jobs = new JobManager(store, hub, workspace, executor, { stopGraceMs: opts.stopGraceMs });
  const serve = new ServeWorker(
    { python: executor.python, pythonPath: executor.pythonPath, module: opts.serveModule ?? SERVE_MODULE, cwd: workspace.root },
    (m) => console.error(`retort runner: ${m}`),
  );
  const models = new ModelService(workspace, serve, opts.serve ?? []);
  const options: ServerOptions = {
    token: opts.token ?? process.env.RETORT_TOKEN ?? randomBytes(24).toString('base64url'),
    allowOrigins: opts.allowOrigins ?? DEFAULT_ORIGINS,
    bodyLimit: opts.bodyLimit ?? 2 ** 20,
    maxUploadBytes: opts.maxUploadBytes ?? 16 * 2 ** 30,
    sse: { heartbeatMs: opts.sseHeartbeatMs ?? 15_000 },
  };
  const context: RunnerContext = { options, workspace, store, hub, jobs, models, executor };
  const server = await buildServer(context);
  const host = opts.host ?? '127.0.0.1';
  await server.listen({ host, port: opts.port ?? 7860 });
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  await jobs.recover();

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: options.token,
    workspace: workspace.root,
    context,
    server,
    close: () =>
      (closing ??= (async () => {
        await jobs.close();
        serve.close();
        await server.close();
        store.close();
      })()),
  };
}

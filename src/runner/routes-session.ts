/** The DistillSession routes that are not jobs: info, load, probe, generate (streamed as SSE). */
import type { FastifyInstance } from 'fastify';
import { parseConfig } from '../core/schema/config-error.ts';
import { GenerateRequestSchema, LoadRequestSchema, ProbeRequestSchema, type SessionInfo } from '../core/session.ts';
import { SSE_EVENT, type ErrorBody } from './api.ts';
import type { RunnerContext } from './context.ts';
import { SseStream } from './sse.ts';
import { codeVersion } from './version.ts';

export function registerSessionRoutes(app: FastifyInstance, ctx: RunnerContext): void {
  const { models, executor } = ctx;

  app.get('/v1/info', async (): Promise<SessionInfo> => {
    const gpus = executor.gpus;
    return {
      mode: 'runner',
      device: gpus.length > 0 ? gpus.map((g) => `${g.name} (GPU ${g.index})`).join(', ') : 'CPU (PyTorch)',
      limits: { gpuCount: gpus.length, ...(gpus.length > 0 ? { memoryBytes: Math.min(...gpus.map((g) => g.memoryBytes)) } : {}) },
      features: [...(gpus.length > 0 ? ['cuda'] : []), ...(gpus.length > 1 ? ['multi-gpu', 'torchrun'] : []), 'openai-teacher', 'chat-completions'],
      jobs: ['distill', 'teacher-generate', 'eval', 'export'],
      models: models.loadedInfos(),
      version: codeVersion(),
    };
  });

  app.post('/v1/load', async (request) => models.load(parseConfig(LoadRequestSchema, request.body, 'load request')));

  app.post('/v1/probe', async (request) => models.probe(parseConfig(ProbeRequestSchema, request.body, 'probe request')));

  app.post('/v1/generate', async (request, reply) => {
    const req = parseConfig(GenerateRequestSchema, request.body, 'generate request');
    const tokens = models.generate(req);
    // The first token (or the error) before the stream opens, so a bad request gets a plain 4xx.
    const first = await tokens.next();
    const stream = new SseStream(request, reply, ctx.options.sse);
    stream.onClose(() => void tokens.return(undefined));
    if (first.done) return stream.end();
    stream.send(first.value, { event: SSE_EVENT.token });
    try {
      for await (const e of tokens) if (!stream.send(e, { event: SSE_EVENT.token })) break;
    } catch (e) {
      stream.send({ error: 'serve-worker', message: (e as Error).message } satisfies ErrorBody, { event: SSE_EVENT.error });
    }
    stream.end();
  });
}

/**
 * The runner's HTTP server (fastify): bearer-token auth on every route (all are under /v1), CORS for the listed
 * origins only (others get 403), JSON bodies capped at `bodyLimit`, and one error shape (ErrorBody)
 * for everything that goes wrong. Routes live in routes-*.ts; this file wires them up.
 */
import { timingSafeEqual } from 'node:crypto';
import cors from '@fastify/cors';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { ConfigError } from '../core/schema/config-error.ts';
import { RetortError } from '../core/errors.ts';
import type { ErrorBody } from './api.ts';
import { JobRequestError } from './jobs.ts';
import { ModelRequestError } from './models.ts';
import { registerEventRoutes } from './routes-events.ts';
import { registerFileRoutes } from './routes-files.ts';
import { registerJobRoutes } from './routes-jobs.ts';
import { registerOpenAiRoutes } from './routes-openai.ts';
import { registerSessionRoutes } from './routes-session.ts';
import type { RunnerContext } from './context.ts';
import { ServeError } from './serve-worker.ts';
import { PathError, TooLargeError } from './workspace.ts';

/** The playground's dev (vite) and preview origins. */
export const DEFAULT_ORIGINS = [
  'http://localhost:5173',
  'http://localhost:4173',
  'http://127.0.0.1:5173',
  'http://127.0.0.1:4173',
  'http://[::1]:5173',
  'http://[::1]:4173',
];

export async function buildServer(ctx: RunnerContext): Promise<FastifyInstance> {
  const { options } = ctx;
  const app = Fastify({ bodyLimit: options.bodyLimit, logger: false, forceCloseConnections: true });
  const origins = new Set(options.allowOrigins);
  const token = Buffer.from(options.token);

  // Before CORS: a browser page from another origin gets nothing, not even a preflight answer.
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin !== undefined && !origins.has(origin))
      return sendError(reply, 403, 'origin-refused', `origin ${origin} is not allowed (start the runner with --allow-origin ${origin})`);
  });
  await app.register(cors, {
    origin: [...origins],
    methods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ['authorization', 'content-type', 'last-event-id'],
    exposedHeaders: ['content-length', 'content-disposition'],
    maxAge: 600,
  });
  app.addHook('onRequest', async (request, reply) => {
    // Every route, not only those spelled /v1/…: a path the router decodes differently must not slip past.
    if (request.method === 'OPTIONS') return;
    const header = request.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    if (given.length !== token.length || !timingSafeEqual(given, token)) {
      reply.header('www-authenticate', 'Bearer');
      return sendError(reply, 401, 'unauthorized', header ? 'wrong bearer token' : 'missing Authorization: Bearer <token> (printed when the runner started)');
    }
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const [status, code] = classify(error);
    const body: ErrorBody = { error: code, message: error.message };
    if (error instanceof ConfigError) body.problems = error.problems;
    if (status >= 500 && !(error instanceof ServeError)) console.error(`retort runner: ${error.stack ?? error.message}`);
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, 'not-found', `no route ${request.method} ${request.url.split('?')[0]}`));

  registerSessionRoutes(app, ctx);
  registerJobRoutes(app, ctx);
  registerEventRoutes(app, ctx);
  registerFileRoutes(app, ctx);
  registerOpenAiRoutes(app, ctx);
  return app;
}

export function sendError(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.status(status).send({ error, message } satisfies ErrorBody);
}

function classify(error: FastifyError): [number, string] {
  if (error instanceof ConfigError) return [400, 'invalid-body'];
  if (error instanceof PathError) return [400, 'bad-path'];
  if (error instanceof TooLargeError) return [413, 'too-large'];
  if (error instanceof JobRequestError) return [error.statusCode, error.statusCode === 404 ? 'not-found' : error.statusCode === 409 ? 'conflict' : 'bad-request'];
  if (error instanceof ModelRequestError) return [error.statusCode, error.statusCode === 404 ? 'not-found' : 'bad-request'];
  if (error instanceof ServeError) return [502, 'serve-worker'];
  if (error instanceof RetortError) return [400, 'bad-input'];
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return [413, 'too-large'];
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return [415, 'unsupported-media-type'];
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return [status, error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError ? 'invalid-json' : 'bad-request'];
  return [500, 'internal'];
}

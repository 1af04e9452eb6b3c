/**
 * Uploads into the workspace: datasets, and checkpoints trained in the tab (one PUT per file).
 * `PUT /v1/files/<path>` with the raw bytes; written atomically; over `maxUploadBytes` → 413.
 */
import type { FastifyInstance } from 'fastify';
import type { UploadResult } from './api.ts';
import type { RunnerContext } from './context.ts';
import { TooLargeError } from './workspace.ts';

export function registerFileRoutes(app: FastifyInstance, ctx: RunnerContext): void {
  const { workspace, options } = ctx;
  // Uploads are streamed to disk, never parsed: an encapsulated context with a pass-through parser.
  void app.register(async (files) => {
    files.removeAllContentTypeParsers();
    files.addContentTypeParser('*', (_request, _payload, done) => done(null));
    files.put<{ Params: { '*': string } }>('/v1/files/*', async (request, reply) => {
      const rel = request.params['*'];
      const abs = await workspace.resolve(rel, 'path');
      const declared = Number(request.headers['content-length'] ?? NaN);
      if (declared > options.maxUploadBytes) {
        // Say so before reading, then drop the connection rather than swallow the whole body.
        reply.header('connection', 'close');
        throw new TooLargeError(`upload of ${declared} bytes is larger than the limit of ${options.maxUploadBytes} bytes`);
      }
      let bytes: number;
      try {
        bytes = await workspace.writeAtomic(abs, request.raw, options.maxUploadBytes);
      } catch (e) {
        if (e instanceof TooLargeError) reply.header('connection', 'close');
        throw e;
      }
      return reply.status(201).send({ path: rel, bytes } satisfies UploadResult);
    });
  });
}

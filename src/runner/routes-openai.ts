/**
 * OpenAI-compatible serving of trained students: GET /v1/models and POST /v1/chat/completions,
 * streaming (`data: {chunk}` lines, then `data: [DONE]`) or not, with `logprobs`/`top_logprobs`.
 * Fields the runner does not implement (n > 1, tools) are refused by name rather than ignored.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseConfig } from '../core/schema/config-error.ts';
import type { ChatMessage } from '../core/tokenizer.ts';
import type { RunnerContext } from './context.ts';
import type { ServeFinish, ServeToken } from './protocol.ts';
import { SseStream } from './sse.ts';

const TextPartSchema = z.object({ type: z.literal('text'), text: z.string() });

export const ChatCompletionRequestSchema = z
  .object({
    model: z.string().min(1).describe('a served model name (GET /v1/models)'),
    messages: z
      .array(
        z.looseObject({
          role: z.enum(['system', 'user', 'assistant', 'tool', 'developer']),
          content: z.union([z.string(), z.array(TextPartSchema)]).nullable(),
        }),
      )
      .min(1)
      .max(10_000),
    stream: z.boolean().default(false),
    temperature: z.number().min(0).max(10).default(1),
    top_p: z.number().gt(0).max(1).default(1),
    top_k: z.int().min(-1).max(100_000).default(0).describe('vLLM extension (−1 or 0 = off)'),
    repetition_penalty: z.number().gt(0).max(10).default(1).describe('vLLM extension'),
    max_tokens: z.int().min(1).max(131072).optional(),
    max_completion_tokens: z.int().min(1).max(131072).optional(),
    stop: z.union([z.string(), z.array(z.string()).max(16)]).nullable().optional(),
    seed: z.int().min(0).max(2 ** 32 - 1).nullable().optional(),
    logprobs: z.boolean().default(false),
    top_logprobs: z.int().min(0).max(20).nullable().optional(),
    n: z.literal(1).default(1).describe('only one choice per request'),
    return_tokens_as_token_ids: z
      .boolean()
      .default(false)
      .describe('vLLM extension: logprob tokens as "token_id:N", so a teacher-generate job gets ids for offline KD'),
  })
  .refine((r) => !r.top_logprobs || r.logprobs, { path: ['top_logprobs'], message: 'needs logprobs: true' });
export type ChatCompletionRequest = z.infer<typeof ChatCompletionRequestSchema>;

interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export function registerOpenAiRoutes(app: FastifyInstance, ctx: RunnerContext): void {
  const { models } = ctx;

  app.get('/v1/models', async () => {
    const created = Math.floor(Date.now() / 1000);
    return { object: 'list', data: (await models.names()).map((id) => ({ id, object: 'model', created, owned_by: 'retort' })) };
  });

  app.post('/v1/chat/completions', async (request, reply) => {
    const req = parseConfig(ChatCompletionRequestSchema, request.body, 'chat completion request');
    const model = await models.resolve(req.model);
    const messages: ChatMessage[] = req.messages.map((m) => ({
      ...m,
      role: m.role === 'developer' ? 'system' : m.role,
      content: typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join(''),
    }));
    const stop = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
    const top = req.logprobs ? Math.max(1, req.top_logprobs ?? 0) : 0;
    const gen = await models.start(
      model,
      { messages, chatTemplate: true },
      {
        temperature: req.temperature,
        topP: req.top_p,
        topK: Math.max(0, req.top_k),
        repetitionPenalty: req.repetition_penalty,
        maxNewTokens: req.max_completion_tokens ?? req.max_tokens ?? 512,
        ...(req.seed != null ? { seed: req.seed } : {}),
        ...(stop.length ? { stop } : {}),
      },
      top || undefined,
    );
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    const name = (t: { id: number; text: string }) => (req.return_tokens_as_token_ids ? `token_id:${t.id}` : t.text);
    const logprob = (t: ServeToken): LogprobEntry => ({
      token: name(t),
      logprob: t.logprob ?? 0,
      bytes: [...Buffer.from(t.text)],
      top_logprobs: (t.top ?? []).slice(0, req.top_logprobs ?? 0).map((e) => ({ token: name(e), logprob: e.logprob, bytes: [...Buffer.from(e.text)] })),
    });

    if (!req.stream) {
      let text = '';
      const entries: LogprobEntry[] = [];
      let finish: ServeFinish = 'length';
      let completion = 0;
      for await (const r of gen.tokens) {
        if ('token' in r) {
          text += r.token.text;
          completion++;
          if (req.logprobs) entries.push(logprob(r.token));
        } else {
          finish = r.finish;
          text = r.text; // the worker's final text has stop strings removed
          completion = r.ids.length;
        }
      }
      return {
        id,
        object: 'chat.completion',
        created,
        model: req.model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: req.logprobs ? { content: entries } : null, finish_reason: finishReason(finish) }],
        usage: { prompt_tokens: gen.ids.length, completion_tokens: completion, total_tokens: gen.ids.length + completion },
      };
    }

    const stream = new SseStream(request, reply, ctx.options.sse);
    stream.onClose(() => void gen.tokens.return(undefined));
    const chunk = (delta: object, finish: string | null, logprobs?: LogprobEntry[]) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model: req.model,
      choices: [{ index: 0, delta, logprobs: logprobs ? { content: logprobs } : null, finish_reason: finish }],
    });
    stream.send(chunk({ role: 'assistant', content: '' }, null));
    try {
      for await (const r of gen.tokens) {
        const ok =
          'token' in r
            ? stream.send(chunk({ content: r.token.text }, null, req.logprobs ? [logprob(r.token)] : undefined))
            : stream.send(chunk({}, finishReason(r.finish)));
        if (!ok) break;
      }
    } catch (e) {
      stream.send({ error: { message: (e as Error).message, type: 'server_error' } });
    }
    stream.sendText('[DONE]');
    stream.end();
  });
}

function finishReason(finish: ServeFinish): 'stop' | 'length' {
  return finish === 'length' ? 'length' : 'stop';
}

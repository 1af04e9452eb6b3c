/**
 * Serving through the Python serve worker (fixtures/fake_serve.py, a real process): /v1/load,
 * /v1/probe, /v1/generate (SSE), /v1/models and OpenAI /v1/chat/completions, streamed and not.
 * Expected ids are derived by hand: the tiny tokenizer maps ASCII to its byte values and wraps a
 * chat in <|im_start|> (257) … <|im_end|> (258); the fake generates prompt[i % len(prompt)].
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner } from '../../src/runner/runner.ts';
import { call, makeWorkspace, placeTokenizer, readSse, startFakeRunner, waitFor } from './helpers.ts';

let runner: Runner;
let ws: string;
const bytes = (s: string) => [...Buffer.from(s)];
/** The ChatML prompt for one user message, ending with the generation prompt. */
const chatIds = (content: string) => [257, ...bytes(`user\n${content}`), 258, 10, 257, ...bytes('assistant\n')];
const textOf = (id: number) => (id >= 32 && id < 127) || id === 10 ? String.fromCharCode(id) : '?';

beforeAll(async () => {
  ws = makeWorkspace();
  placeTokenizer(join(ws, 'served-elsewhere', 'my-student'));
  runner = await startFakeRunner(ws, { serve: [join(ws, 'served-elsewhere', 'my-student')] });
});
afterAll(async () => {
  await runner?.close();
});

describe('session routes', () => {
  it('loads teacher and student and probes them', async () => {
    const loaded = await call(runner, 'POST', '/v1/load', { teacher: { path: 'models/teacher' }, student: { path: 'models/student' } });
    expect(loaded.status, JSON.stringify(loaded.json)).toBe(200);
    expect(loaded.json.map((m: { role: string }) => m.role)).toEqual(['teacher', 'student']);
    expect(loaded.json[1].path).toBe(join(runner.workspace, 'models/student'));
    const info = (await call(runner, 'GET', '/v1/info')).json;
    expect(info.models).toHaveLength(2);

    const probe = await call(runner, 'POST', '/v1/probe', { text: 'abc', temperatures: [1, 2] });
    expect(probe.status, JSON.stringify(probe.json)).toBe(200);
    expect(probe.json.ids).toEqual(bytes('abc'));
    expect(probe.json.tokens).toEqual(['a', 'b', 'c']); // filled in by the runner's tokenizer
    expect(probe.json.positions[0].kl).toEqual([0.01, 0.02]);

    const bad = await call(runner, 'POST', '/v1/load', { student: { path: '../x' } });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/^student\.path: /);
    const none = await call(runner, 'POST', '/v1/load', {});
    expect(none.status).toBe(400);
    expect(none.json.message).toMatch(/names no teacher, student or adapter/);
    const missing = await call(runner, 'POST', '/v1/load', { student: { path: 'data' } });
    expect(missing.status).toBe(502);
    expect(missing.json.message).toMatch(/no config\.json/);
  });

  it('streams /v1/generate as SSE token events, the last one done with stats', async () => {
    const r = await readSse(`${runner.url}/v1/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'student', prompt: 'hey', chatTemplate: false, sampling: { maxNewTokens: 7 } }),
    });
    expect(r.status).toBe(200);
    const tokens = r.messages.filter((m) => m.event === 'token').map((m) => JSON.parse(m.data));
    const want = [...Array(7).keys()].map((i) => bytes('hey')[i % 3]);
    expect(tokens.map((t) => t.id)).toEqual(want);
    expect(tokens.map((t) => t.text).join('')).toBe('heyheyh');
    expect(tokens.slice(0, -1).every((t) => !t.done)).toBe(true);
    expect(tokens.at(-1)).toMatchObject({ done: true, stats: { promptTokens: 3, newTokens: 7, finishReason: 'length' } });

    const stop = await readSse(`${runner.url}/v1/generate`, {
      method: 'POST',
      body: JSON.stringify({ model: 'student', prompt: 'abcd', chatTemplate: false, sampling: { maxNewTokens: 20, stop: ['c'] } }),
    });
    const last = JSON.parse(stop.messages.at(-1)!.data);
    expect(last).toMatchObject({ id: 98, text: 'b', done: true, stats: { finishReason: 'stop' } });

    const unknown = await call(runner, 'POST', '/v1/generate', { model: 'models/nothing', prompt: 'x' });
    expect(unknown.status).toBe(404);
    expect(unknown.json.message).toMatch(/^model: no model 'models\/nothing'/);
  });
});

describe('OpenAI-compatible serving', () => {
  it('lists served models', async () => {
    const { json } = await call(runner, 'GET', '/v1/models');
    expect(json.object).toBe('list');
    const ids = json.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['teacher', 'student', 'my-student', 'models/student', 'models/teacher']));
  });

  it('completes a chat without streaming, with logprobs and top_logprobs', async () => {
    const r = await call(runner, 'POST', '/v1/chat/completions', {
      model: 'my-student',
      messages: [{ role: 'user', content: 'abc' }],
      max_tokens: 5,
      logprobs: true,
      top_logprobs: 2,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    const prompt = chatIds('abc');
    const want = [0, 1, 2, 3, 4].map((i) => prompt[i % prompt.length]);
    expect(r.json.object).toBe('chat.completion');
    expect(r.json.choices[0].message).toEqual({ role: 'assistant', content: want.map(textOf).join('') });
    expect(r.json.choices[0].finish_reason).toBe('length');
    expect(r.json.usage).toEqual({ prompt_tokens: prompt.length, completion_tokens: 5, total_tokens: prompt.length + 5 });
    const lp = r.json.choices[0].logprobs.content;
    expect(lp).toHaveLength(5);
    let worst = 0;
    lp.forEach((e: { logprob: number; top_logprobs: { logprob: number }[] }, i: number) => {
      worst = Math.max(worst, Math.abs(e.logprob - -0.1 * (i + 1)));
      expect(e.top_logprobs).toHaveLength(2);
      worst = Math.max(worst, Math.abs(e.top_logprobs[1].logprob - (-0.1 * (i + 1) - 0.5)));
    });
    console.log(`chat logprobs: worst |Δ| vs hand-derived ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-12);
  });

  it('streams chunks then [DONE], same text as without streaming', async () => {
    const body = { model: 'models/student', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], max_tokens: 6, stream: true };
    const r = await readSse(`${runner.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(body) });
    expect(r.status).toBe(200);
    expect(r.messages.at(-1)!.data).toBe('[DONE]');
    const chunks = r.messages.slice(0, -1).map((m) => JSON.parse(m.data));
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id)).toBe(true);
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.at(-1).choices[0].finish_reason).toBe('length');
    const streamed = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    const plain = await call(runner, 'POST', '/v1/chat/completions', { ...body, stream: false });
    expect(streamed).toBe(plain.json.choices[0].message.content);
    const prompt = [257, ...bytes('system\nbe brief'), 258, 10, ...chatIds('hi')];
    expect(plain.json.usage.prompt_tokens).toBe(prompt.length);
    expect(streamed).toBe([0, 1, 2, 3, 4, 5].map((i) => textOf(prompt[i])).join(''));
  });

  it('refuses bad requests naming the field', async () => {
    const cases: [unknown, number, RegExp][] = [
      [{ model: 'student', messages: [] }, 400, /messages: must have at least 1 item/],
      [{ model: 'student', messages: [{ role: 'user', content: 'x' }], n: 2 }, 400, /^chat completion request: n: /],
      [{ model: 'student', messages: [{ role: 'wizard', content: 'x' }] }, 400, /messages\.0\.role/],
      [{ model: 'student', messages: [{ role: 'user', content: 'x' }], top_logprobs: 3 }, 400, /top_logprobs: needs logprobs: true/],
      [{ model: 'nope', messages: [{ role: 'user', content: 'x' }] }, 404, /no model 'nope'/],
    ];
    for (const [body, status, message] of cases) {
      const r = await call(runner, 'POST', '/v1/chat/completions', body);
      expect(r.status, JSON.stringify(r.json)).toBe(status);
      expect(r.json.message).toMatch(message);
    }
  });

  it('cancels generation when the client goes away', async () => {
    const r = await readSse(`${runner.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'student', messages: [{ role: 'user', content: 'long' }], max_tokens: 5000, stream: true }),
      stop: (_m, all) => all.length >= 4,
    });
    expect(r.messages).toHaveLength(4);
    await waitFor('the serve worker to hear the cancel', () => existsSync(join(ws, 'cancelled.log')));
    expect(readFileSync(join(ws, 'cancelled.log'), 'utf8')).toMatch(/^cancelled \d+\n/);
  });

  it('reports a serve worker crash with its stderr (502) and starts a new one', async () => {
    const crash = await call(runner, 'POST', '/v1/generate', { model: 'student', prompt: '!boom', chatTemplate: false });
    expect(crash.status).toBe(502);
    expect(crash.json.error).toBe('serve-worker');
    expect(crash.json.message).toMatch(/serve worker exited with code 7/);
    expect(crash.json.message).toContain('RuntimeError: fake serve crash on request');
    // The new process loads the role's model again on demand.
    const again = await call(runner, 'POST', '/v1/chat/completions', { model: 'student', messages: [{ role: 'user', content: 'ok' }], max_tokens: 2 });
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    expect(again.json.choices[0].message.content).toBe('?u');
  });
});

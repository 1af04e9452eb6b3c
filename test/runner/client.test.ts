/**
 * RunnerSession (src/runner/client.ts) against a real runner: every DistillSession method, the one
 * shared multiplexed event stream, errors carrying the runner's message, and the SSE parser on
 * awkward chunking.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectGeneration } from '../../src/core/session.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { RunnerError, RunnerSession } from '../../src/runner/client.ts';
import type { Runner } from '../../src/runner/runner.ts';
import { parseSse } from '../../src/runner/sse-parse.ts';
import { TOKEN, fakeSpec, makeWorkspace, startFakeRunner } from './helpers.ts';

let runner: Runner;
let session: RunnerSession;
let requests: string[] = [];

beforeAll(async () => {
  runner = await startFakeRunner(makeWorkspace());
  runner.server.server.on('request', (req) => void requests.push(`${req.method} ${(req.url ?? '').split('?')[0]}`));
  session = new RunnerSession({ url: runner.url, token: TOKEN });
});
afterAll(async () => {
  session?.close();
  await runner?.close();
});

async function drain(it: AsyncIterable<TelemetryEvent>): Promise<TelemetryEvent[]> {
  const out: TelemetryEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('RunnerSession', () => {
  it('starts jobs and follows several at once over one multiplexed stream', async () => {
    requests = [];
    const ids = await Promise.all([1, 2, 3].map((i) => session.start(fakeSpec(`fake step_ms=3 n${i}`, 20 * i, 10))));
    const [a, b, c] = await Promise.all(ids.map((id) => drain(session.events(id))));
    for (const [evs, steps] of [
      [a, 20],
      [b, 40],
      [c, 60],
    ] as const) {
      expect(evs.map((e) => e.seq)).toEqual([...evs.keys()]);
      expect(evs.filter((e) => e.type === 'step')).toHaveLength(steps);
      expect(evs.at(-1)).toMatchObject({ type: 'state', state: 'finished' });
    }
    // All three iterators shared /v1/events (reconnecting as the set of jobs changed), never a per-job stream.
    expect(requests.filter((r) => r.includes('/events') && !r.startsWith('GET /v1/events'))).toEqual([]);
    expect(runner.context.hub.size).toBeLessThanOrEqual(1);

    // Resuming from a seq replays the rest; past the end, the iterator ends at once.
    const tail = await drain(session.events(ids[0], a.length - 3));
    expect(tail.map((e) => e.seq)).toEqual([a.length - 2, a.length - 1]);
    expect(await drain(session.events(ids[0], a.length - 1))).toEqual([]);

    const ckpts = await session.checkpoints(ids[1]);
    expect(ckpts.map((k) => k.step)).toEqual([10, 20, 30, 40]);
    const files = await session.checkpointFiles(ids[1], 20);
    const bytes = await session.downloadCheckpointFile(ids[1], 20, 'model.safetensors');
    expect(bytes.length).toBe(files.files.find((f) => f.name === 'model.safetensors')!.bytes);
    expect((await session.jobs()).length).toBeGreaterThanOrEqual(3);
  });

  it('controls a job: pause, resume, stop', async () => {
    const id = await session.start(fakeSpec('fake step_ms=15', 1000, 0));
    const seen: string[] = [];
    for await (const e of session.events(id)) {
      if (e.type === 'state') seen.push(e.state);
      if (e.type === 'step' && e.step === 3) await session.control(id, 'pause');
      if (e.type === 'state' && e.state === 'paused') await session.control(id, 'resume');
      if (e.type === 'step' && e.step === 8) await session.control(id, 'stop');
    }
    expect(seen).toEqual(['queued', 'running', 'paused', 'running', 'stopped']);
    const err = await session.control(id, 'stop').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RunnerError);
    expect((err as RunnerError).status).toBe(409);
  });

  it('uploads, reports info, and surfaces the runner’s validation messages', async () => {
    const up = await session.upload('data/from-tab/set.jsonl', '{"text":"x"}\n');
    expect(up).toEqual({ path: 'data/from-tab/set.jsonl', bytes: 13 });
    expect(readFileSync(join(runner.workspace, 'data/from-tab/set.jsonl'), 'utf8')).toBe('{"text":"x"}\n');
    expect((await session.info()).mode).toBe('runner');
    const bad = (await session.start({ ...fakeSpec('x', 1, 0), seed: -1 } as never).catch((e: unknown) => e)) as RunnerError;
    expect(bad.status).toBe(400);
    expect(bad.body.problems?.[0].path).toBe('seed');
    const denied = await new RunnerSession({ url: runner.url, token: 'wrong' }).info().catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(RunnerError);
    expect((denied as RunnerError).status).toBe(401);
  });

  it('generates through the serve worker', async () => {
    await session.load({ student: { path: 'models/student' } });
    const { text, ids, stats } = await collectGeneration(session.generate({ model: 'student', prompt: 'xy', chatTemplate: false, sampling: { maxNewTokens: 5 } }));
    expect(text).toBe('xyxyx');
    expect(ids).toEqual([120, 121, 120, 121, 120]);
    expect(stats).toMatchObject({ newTokens: 5, promptTokens: 2, finishReason: 'length' });
  });
});

describe('parseSse', () => {
  it('reassembles messages split anywhere, with CRLF, comments, multi-line data and ids', async () => {
    const wire = ': hello\r\nid: 7\r\nevent: token\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: plain\n\n: ping\n\nid: 9\ndata: é\r\r';
    const bytes = new TextEncoder().encode(wire);
    for (const size of [1, 2, 3, 5, 64]) {
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < bytes.length; i += size) c.enqueue(bytes.slice(i, i + size));
          c.close();
        },
      });
      const got = [];
      for await (const m of parseSse(body)) got.push(m);
      expect(got, `chunks of ${size}`).toEqual([
        { event: 'token', data: '{"a":\n1}', id: '7' },
        { event: 'message', data: 'plain', id: '7' },
        { event: 'message', data: 'é', id: '9' },
      ]);
    }
  });
});

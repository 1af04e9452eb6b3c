/**
 * Jobs end to end with real child processes (fixtures/fake_worker.py), real HTTP and real SQLite:
 * the lifecycle, crashes, kill -9 mid-checkpoint, cancel/stop/pause, SSE replay, 50 streams at once.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { SafetensorsFile } from '../../src/core/safetensors.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import type { Runner } from '../../src/runner/runner.ts';
import { call, events, fakeSpec, makeWorkspace, readSse, startFakeRunner, waitFor, waitForState } from './helpers.ts';

let runner: Runner;
let ws: string;

beforeAll(async () => {
  ws = makeWorkspace();
  runner = await startFakeRunner(ws, { stopGraceMs: 3000 });
});
afterAll(async () => {
  await runner?.close();
});

async function submit(name: string, steps: number, everySteps: number): Promise<string> {
  const r = await call(runner, 'POST', '/v1/jobs', fakeSpec(name, steps, everySteps));
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  return r.json.id;
}

async function allEvents(id: string): Promise<TelemetryEvent[]> {
  return events((await readSse(`${runner.url}/v1/jobs/${id}/events`)).messages);
}

describe('a job', () => {
  it('runs: queued → running → finished, with data tokenized, stages by index, checkpoints listed', async () => {
    const id = await submit('fake step_ms=5', 6, 2);
    const done = await waitForState(runner, id, ['finished', 'failed']);
    expect(done.state, done.error).toBe('finished');
    expect(done.attempts).toBe(1);
    const evs = await allEvents(id);
    expect(evs.map((e) => e.seq)).toEqual(evs.map((_, i) => i));
    const states = evs.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state);
    expect(states).toEqual(['queued', 'running', 'finished']); // the worker's own 'running' is not repeated
    const steps = evs.filter((e) => e.type === 'step');
    expect(steps.map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(steps.every((e) => (e as { stage: unknown }).stage === 0)).toBe(true);
    expect(evs.filter((e) => e.type === 'checkpoint').map((e) => (e as { step: number }).step)).toEqual([2, 4, 6]);
    expect(evs.some((e) => e.type === 'log' && e.message.startsWith('data: stage 0'))).toBe(true);

    // spec.json as validated (defaults filled in); data rows: label t is the next id where trained.
    const dir = join(runner.workspace, 'jobs', id);
    const spec = JSON.parse(readFileSync(join(dir, 'spec.json'), 'utf8'));
    expect(spec.stages[0].data.maxSeqLen).toBe(64);
    expect(spec.optimizer).toBeDefined();
    const rows = readFileSync(join(dir, 'data/stage-0.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows).toHaveLength(4);
    for (const row of rows) {
      expect(row.labels).toHaveLength(row.ids.length);
      row.labels.forEach((l: number, t: number) => expect(l === -1 || l === row.ids[t + 1]).toBe(true));
      expect(row.labels.filter((l: number) => l >= 0).length).toBeGreaterThan(3);
    }
    expect(rows.map((r) => r.line)).toEqual([1, 2, 3, 4]);

    const ckpts = (await call(runner, 'GET', `/v1/jobs/${id}/checkpoints`)).json;
    expect(ckpts.map((c: { step: number }) => c.step)).toEqual([2, 4, 6]);
    expect(ckpts[0].stage).toBe(0);
    expect(ckpts[0].bytes).toBeGreaterThan(64);
    const files = (await call(runner, 'GET', `/v1/jobs/${id}/checkpoints/4`)).json;
    expect(files.files.map((f: { name: string }) => f.name)).toEqual(['model.safetensors', 'run_manifest.json', 'trainer_state.json']);
    expect(files.manifest.step).toBe(4);
    const bin = await fetch(`${runner.url}/v1/jobs/${id}/checkpoints/4/files/model.safetensors`, { headers: { authorization: 'Bearer test-token-0123456789' } });
    const bytes = new Uint8Array(await bin.arrayBuffer());
    expect(Buffer.compare(Buffer.from(bytes), readFileSync(join(dir, 'checkpoints/step-4/model.safetensors')))).toBe(0);
    const w = (await SafetensorsFile.fromBytes(bytes).read('w')).data as Float32Array;
    expect([...w].every((x) => x === 4)).toBe(true);
    expect((await call(runner, 'GET', `/v1/jobs/${id}/checkpoints/4/files/..%2Fspec.json`)).status).toBe(400);
    expect((await call(runner, 'GET', `/v1/jobs/${id}/checkpoints/9`)).status).toBe(404);
  });

  it('fails before starting a worker when a dataset line is bad, naming file and line', async () => {
    writeFileSync(join(runner.workspace, 'data', 'broken.jsonl'), '{"prompt": "a", "completion": "b"}\n{"prompt": 3}\n');
    const spec = fakeSpec('fake', 2, 0) as { stages: { data: { path: string } }[] };
    spec.stages[0].data.path = 'data/broken.jsonl';
    const r = await call(runner, 'POST', '/v1/jobs', spec);
    const job = await waitForState(runner, r.json.id, ['failed', 'finished']);
    expect(job.state).toBe('failed');
    expect(job.error).toBe('data/broken.jsonl:2: expected "prompt" to be a string');
    const err = (await allEvents(job.id)).find((e) => e.type === 'error');
    expect(err).toMatchObject({ where: 'data/broken.jsonl:2', recoverable: false });
    expect(existsSync(join(runner.workspace, 'jobs', job.id, 'checkpoints'))).toBe(false);
  });

  it('keeps a bad stdout line as a warning and goes on', async () => {
    const id = await submit('fake bad_line=1', 2, 0);
    expect((await waitForState(runner, id, ['finished', 'failed'])).state).toBe('finished');
    const warn = (await allEvents(id)).find((e) => e.type === 'log' && e.level === 'warn' && e.message.includes('not JSON'));
    expect(warn).toBeDefined();
  });

  it('fails with the stderr tail when the worker crashes, and the runner keeps serving', async () => {
    const id = await submit('fake step_ms=5 crash_at=2 stderr_kb=80', 10, 0);
    const job = await waitForState(runner, id, ['finished', 'failed']);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^worker exited with code 3\n--- worker stderr \(end\) ---\n/);
    expect(job.error).toContain('RuntimeError: CUDA error: an illegal memory access was encountered (fake crash at step 2)');
    // 80 KiB of noise went first: only the last 64 KiB are kept, cut at a line boundary.
    const tail = job.error.split('--- worker stderr (end) ---\n')[1];
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(64 * 1024);
    expect(tail).not.toContain('noise line 000000');
    expect(tail).toContain('noise line 000079');
    expect(tail.startsWith('noise line ')).toBe(true);
    const err = (await allEvents(id)).find((e) => e.type === 'error');
    expect(err && err.type === 'error' && !err.recoverable && err.message.includes('fake crash at step 2')).toBe(true);

    const next = await submit('fake', 2, 0);
    expect((await waitForState(runner, next, ['finished', 'failed'])).state).toBe('finished');
  });

  it('kill -9 of the worker mid-checkpoint leaves the previous checkpoint complete and loadable', async () => {
    const id = await submit('fake step_ms=5 ckpt_ms=4000 slow_from=4 ckpt_floats=65536', 8, 2);
    const dir = join(runner.workspace, 'jobs', id, 'checkpoints');
    // step-2 is written fast; step-4 is written slowly: kill while its temporary folder is half full.
    await waitFor('a half-written .tmp-step-4', () => existsSync(join(dir, '.tmp-step-4', 'model.safetensors')) && existsSync(join(dir, 'step-2')));
    const pid = runner.context.jobs.workers().get(id);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid!, 'SIGKILL');
    const job = await waitForState(runner, id, ['failed', 'finished']);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/^worker was killed by SIGKILL/);

    expect(readdirSync(dir).sort()).toEqual(['.tmp-step-4', 'step-2']);
    const listed = (await call(runner, 'GET', `/v1/jobs/${id}/checkpoints`)).json;
    expect(listed.map((c: { step: number }) => c.step)).toEqual([2]);
    const half = readFileSync(join(dir, '.tmp-step-4', 'model.safetensors'));
    expect(half.length).toBeLessThan(65536 * 4); // it really was cut mid-write
    const file = await SafetensorsFile.open(new NodeFileSource(dir), 'step-2/model.safetensors');
    const w = (await file.read('w')).data as Float32Array;
    expect(w.length).toBe(65536);
    expect(Math.max(...w.map((x) => Math.abs(x - 2)))).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'step-2', 'trainer_state.json'), 'utf8'))).toEqual({ step: 2 });
  });
});

describe('control', () => {
  it('cancels a queued job without running it, and stops a running one with a checkpoint', async () => {
    const a = await submit('fake step_ms=40', 500, 0);
    const b = await submit('fake', 2, 0);
    await waitForState(runner, a, ['running']);
    expect((await call(runner, 'GET', `/v1/jobs/${b}`)).json.state).toBe('queued'); // one CPU queue
    const cancelled = await call(runner, 'POST', `/v1/jobs/${b}/cancel`);
    expect(cancelled.json.state).toBe('stopped');
    expect(cancelled.json.attempts).toBe(0);
    expect((await call(runner, 'POST', `/v1/jobs/${b}/cancel`)).status).toBe(409);
    expect(existsSync(join(runner.workspace, 'jobs', b, 'data'))).toBe(false);

    await waitFor('a few steps', async () => (await allEventsSoFar(a)).filter((e) => e.type === 'step').length >= 3);
    const stopped = await call(runner, 'POST', `/v1/jobs/${a}/control`, { action: 'stop' });
    expect(stopped.status).toBe(200);
    const job = await waitForState(runner, a, ['stopped', 'failed', 'finished']);
    expect(job.state).toBe('stopped');
    const evs = await allEvents(a);
    const ckpt = evs.find((e) => e.type === 'checkpoint');
    expect(ckpt).toBeDefined();
    const lastStep = evs.filter((e) => e.type === 'step').at(-1) as { step: number };
    expect((ckpt as { step: number }).step).toBe(lastStep.step);
  });

  it('pauses and resumes a running job (stdin control lines)', async () => {
    const id = await submit('fake step_ms=20', 400, 0);
    await waitForState(runner, id, ['running']);
    expect((await call(runner, 'POST', `/v1/jobs/${id}/control`, { action: 'resume' })).status).toBe(409);
    expect((await call(runner, 'POST', `/v1/jobs/${id}/control`, { action: 'pause' })).status).toBe(200);
    await waitForState(runner, id, ['paused']);
    const count = (await allEventsSoFar(id)).filter((e) => e.type === 'step').length;
    await new Promise((r) => setTimeout(r, 300));
    expect((await allEventsSoFar(id)).filter((e) => e.type === 'step').length).toBe(count);
    await call(runner, 'POST', `/v1/jobs/${id}/control`, { action: 'resume' });
    await waitForState(runner, id, ['running']);
    await waitFor('steps after resume', async () => (await allEventsSoFar(id)).filter((e) => e.type === 'step').length > count + 2);
    await call(runner, 'POST', `/v1/jobs/${id}/control`, { action: 'stop' });
    expect((await waitForState(runner, id, ['stopped', 'failed'])).state).toBe('stopped');
    const states = (await allEvents(id)).filter((e) => e.type === 'state').map((e) => (e as { state: string }).state);
    expect(states).toEqual(['queued', 'running', 'paused', 'running', 'stopped']);
  });
});

/** Events stored so far, without waiting for the end (the multiplexed stream with a cursor replay, cut when idle). */
async function allEventsSoFar(id: string): Promise<TelemetryEvent[]> {
  const total = (await call(runner, 'GET', `/v1/jobs/${id}`)).json.events as number;
  if (total === 0) return [];
  const r = await readSse(`${runner.url}/v1/events?jobs=${id}`, { stop: (_m, all) => all.length >= total });
  return events(r.messages);
}

describe('event streams', () => {
  it('replays from Last-Event-ID (per job: seq; multiplexed: cursor) and ends after the final state', async () => {
    const id = await submit('fake', 5, 0);
    await waitForState(runner, id, ['finished']);
    const full = await readSse(`${runner.url}/v1/jobs/${id}/events`);
    expect(full.ended).toBe(true);
    const n = full.messages.length;
    expect(full.messages.map((m) => Number(m.id))).toEqual([...Array(n).keys()]);

    const resumed = await readSse(`${runner.url}/v1/jobs/${id}/events`, { headers: { 'last-event-id': '3' } });
    expect(resumed.ended).toBe(true);
    expect(resumed.messages.map((m) => Number(m.id))).toEqual([...Array(n - 4).keys()].map((i) => i + 4));
    expect(resumed.messages.map((m) => m.data)).toEqual(full.messages.slice(4).map((m) => m.data));
    const bySince = await readSse(`${runner.url}/v1/jobs/${id}/events?since=${n - 2}`);
    expect(events(bySince.messages).map((e) => e.seq)).toEqual([n - 1]);
    const atEnd = await readSse(`${runner.url}/v1/jobs/${id}/events`, { headers: { 'last-event-id': String(n - 1) } });
    expect(atEnd).toMatchObject({ ended: true, messages: [] });
    expect((await readSse(`${runner.url}/v1/jobs/${id}/events`, { headers: { 'last-event-id': 'x' } })).status).toBe(400);

    // Multiplexed: ids are global cursors; resuming from one replays the rest of that job's events.
    const mux = await readSse(`${runner.url}/v1/events?jobs=${id}`, { stop: (_m, all) => all.length >= n });
    const cursors = mux.messages.map((m) => Number(m.id));
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    const from = cursors[2];
    const again = await readSse(`${runner.url}/v1/events?jobs=${id}`, { headers: { 'last-event-id': String(from) }, stop: (_m, all) => all.length >= n - 3 });
    expect(events(again.messages).map((e) => e.seq)).toEqual([...Array(n - 3).keys()].map((i) => i + 3));
    const seqFrom = await readSse(`${runner.url}/v1/events?jobs=${id}:${n - 3}`, { stop: (_m, all) => all.length >= 2 });
    expect(events(seqFrom.messages).map((e) => e.seq)).toEqual([n - 2, n - 1]);
  });

  it('serves 50 concurrent streams of a busy job with nothing dropped or repeated', async () => {
    const id = await submit('fake step_ms=2', 300, 100);
    const t0 = Date.now();
    const streams = Array.from({ length: 50 }, (_, i) =>
      i % 2 === 0
        ? readSse(`${runner.url}/v1/jobs/${id}/events`, { timeoutMs: 40_000 })
        : readSse(`${runner.url}/v1/events?jobs=${id}`, {
            timeoutMs: 40_000,
            stop: (m) => /"type":"state","state":"(finished|failed|stopped)"/.test(m.data),
          }),
    );
    const results = await Promise.all(streams);
    const seconds = (Date.now() - t0) / 1000;
    const total = (await call(runner, 'GET', `/v1/jobs/${id}`)).json.events as number;
    let worst = 0;
    for (const r of results) {
      const seqs = events(r.messages).map((e) => e.seq);
      const missing = total - new Set(seqs).size;
      worst = Math.max(worst, missing, seqs.length - total);
      expect(seqs).toEqual([...Array(total).keys()]);
    }
    console.log(`50 streams × ${total} events in ${seconds.toFixed(2)} s; worst missing/extra per stream: ${worst}`);
    expect(total).toBeGreaterThan(300);
    expect(seconds).toBeLessThan(30);
    expect(runner.context.hub.size).toBeLessThanOrEqual(1); // streams unsubscribe when they close
  });
});

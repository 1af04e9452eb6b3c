/**
 * The runner driving the REAL torch worker (src/runner/torch, retort_torch.worker) on random tiny
 * Qwen3 checkpoints (make_tiny) with the tiny byte-level tokenizer: data tokenized by the runner,
 * every stdout line a valid TelemetryEvent, checkpoints in HF layout with a run manifest, and a
 * stopped job resumed from its checkpoint.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { SafetensorsFile } from '../../src/core/safetensors.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import type { Runner } from '../../src/runner/runner.ts';
import { startRunner } from '../../src/runner/runner.ts';
import { PYTHON } from '../helpers/python.ts';
import { torchModule } from '../helpers/torch-worker.ts';
import { TINY_VOCAB, TOKEN, call, events, makeWorkspace, placeTokenizer, readSse, waitForState } from './helpers.ts';

const hasWorker = existsSync('src/runner/torch/retort_torch/worker.py');
let runner: Runner;

beforeAll(async () => {
  if (!hasWorker) return;
  const ws = makeWorkspace();
  for (const [name, seed] of [
    ['teacher', 1],
    ['student', 2],
  ] as const) {
    const dir = join(ws, 'models', name);
    const dims = ['--vocab', String(TINY_VOCAB), '--hidden', '32', '--layers', '2', '--heads', '2', '--kv-heads', '1', '--intermediate', '48', '--tie'];
    torchModule('make_tiny', ['--arch', 'qwen3', '--out', dir, '--seed', String(seed), ...dims]);
    placeTokenizer(dir);
  }
  runner = await startRunner({ workspace: ws, port: 0, token: TOKEN, gpus: [], stopGraceMs: 30_000, executor: { python: PYTHON } });
});
afterAll(async () => {
  await runner?.close();
});

function spec(steps: number, everySteps: number) {
  return {
    kind: 'distill',
    teacher: { path: 'models/teacher' },
    student: { path: 'models/student' },
    stages: [{ name: 'kd', data: { path: 'data/train.jsonl', maxSeqLen: 64 }, loss: { alpha: 0.5, temperature: { kind: 'constant', value: 2 } }, stop: { steps } }],
    batch: { microBatch: 2 },
    optimizer: { lr: 1e-3 },
    checkpoint: { everySteps, keepLast: 10 },
  };
}

async function eventsOf(id: string): Promise<TelemetryEvent[]> {
  return events((await readSse(`${runner.url}/v1/jobs/${id}/events`, { timeoutMs: 120_000 })).messages);
}

describe.skipIf(!hasWorker)('the real torch worker', () => {
  it('trains a distill job: valid events, HF checkpoints with a manifest', async () => {
    const r = await call(runner, 'POST', '/v1/jobs', spec(4, 2));
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const job = await waitForState(runner, r.json.id, ['finished', 'failed', 'stopped'], 120_000);
    const evs = await eventsOf(job.id);
    expect(job.state, `${job.error}\n${JSON.stringify(evs.filter((e) => e.type === 'log' || e.type === 'error'), null, 1)}`).toBe('finished');
    // A line the runner could not validate would have become a warning naming 'worker stdout'.
    expect(evs.filter((e) => e.type === 'log' && e.message.startsWith('worker stdout'))).toEqual([]);
    const steps = evs.filter((e) => e.type === 'step');
    expect(steps.length).toBe(4);
    expect(steps.every((e, i) => i === 0 || e.step === steps[i - 1].step + 1)).toBe(true);
    for (const e of steps) {
      expect(e.stage).toBe(0);
      expect(Number.isFinite(e.loss)).toBe(true);
      expect(e.metrics.soft).toBeGreaterThanOrEqual(0);
    }
    console.log(`real worker losses: ${steps.map((e) => e.loss.toFixed(4)).join(' ')}`);

    const ckpts = (await call(runner, 'GET', `/v1/jobs/${job.id}/checkpoints`)).json as { step: number; path: string }[];
    expect(ckpts.length).toBeGreaterThanOrEqual(2);
    const last = ckpts.at(-1)!;
    const manifest = JSON.parse(readFileSync(join(last.path, 'manifest.json'), 'utf8'));
    expect(manifest.spec.kind).toBe('distill');
    expect(manifest.seed).toBe(42);
    expect(typeof manifest.code_version).toBe('string');
    const weights = await SafetensorsFile.open(new NodeFileSource(last.path), 'model.safetensors');
    expect(weights.has('model.embed_tokens.weight')).toBe(true);
    expect(existsSync(join(last.path, 'tokenizer.json'))).toBe(true);
  });

  it('resumes from its checkpoint after the runner is stopped and started again', async () => {
    const r = await call(runner, 'POST', '/v1/jobs', spec(30, 0));
    const id: string = r.json.id;
    await readSse(`${runner.url}/v1/events?jobs=${id}`, { stop: (m) => /"type":"step"/.test(m.data), timeoutMs: 120_000 });
    const ws = runner.workspace;
    await runner.close(); // the worker checkpoints on SIGTERM; the job goes back to the queue
    runner = await startRunner({ workspace: ws, port: 0, token: TOKEN, gpus: [], stopGraceMs: 30_000, executor: { python: PYTHON } });
    const job = await waitForState(runner, id, ['finished', 'failed', 'stopped'], 120_000);
    const evs = await eventsOf(id);
    expect(job.state, `${job.error}\n${JSON.stringify(evs.filter((e) => e.type === 'log' || e.type === 'error'), null, 1)}`).toBe('finished');
    expect(job.attempts).toBe(2);
    const states = evs.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state);
    expect(states).toEqual(['queued', 'running', 'queued', 'running', 'finished']);
    const ckpt = evs.find((e) => e.type === 'checkpoint') as { step: number };
    const steps = evs.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step);
    const restart = steps.findIndex((s, i) => i > 0 && s <= steps[i - 1]);
    // After the restart the worker continues from the checkpointed step; it never starts over.
    if (restart >= 0) expect(steps[restart]).toBe(ckpt.step + (steps[0] === 0 ? 0 : 1));
    expect(new Set(steps).size).toBe(30);
    expect(evs.some((e) => e.type === 'log' && /resum/i.test(e.message) && e.message.includes(String(ckpt.step)))).toBe(true);
    console.log(`real worker: stopped at step ${ckpt.step}, resumed, finished ${steps.length} step events (${steps.length - 30} repeated)`);
  });
});

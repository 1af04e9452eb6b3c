/**
 * The queue is FIFO per GPU set: jobs on disjoint GPUs run together, a job waits while any GPU it
 * needs is busy or promised to an older waiting job, and each worker sees only its GPUs. GPUs are
 * declared to the runner (none are needed: the fake worker only reports CUDA_VISIBLE_DEVICES).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import type { JobRecord } from '../../src/runner/api.ts';
import { workerLaunch } from '../../src/runner/executor.ts';
import { JobStore } from '../../src/runner/store.ts';
import type { Runner } from '../../src/runner/runner.ts';
import { parseJobSpec } from '../../src/core/schema/job-spec.ts';
import { call, events, fakeSpec, makeWorkspace, readSse, startFakeRunner, waitForState } from './helpers.ts';

let runner: Runner;
const GPUS = [0, 1].map((index) => ({ index, name: 'Fake GPU', memoryBytes: 80 * 2 ** 30 }));

beforeAll(async () => {
  runner = await startFakeRunner(makeWorkspace(), { gpus: GPUS });
});
afterAll(async () => {
  await runner?.close();
});

it('builds local and torchrun command lines', () => {
  const cfg = { python: '/usr/bin/python3', pythonPath: ['/x/torch'], workerModule: 'retort_torch.worker', gpus: GPUS };
  const one = workerLaunch(cfg, { dir: '/w/jobs/j1', kind: 'distill', gpus: [1], resume: '/w/jobs/j1/checkpoints/step-4' }, '/w');
  expect(one).toMatchObject({ executor: 'local', command: '/usr/bin/python3', cwd: '/w' });
  expect(one.args).toEqual(['-m', 'retort_torch.worker', '--job', '/w/jobs/j1', '--resume', '/w/jobs/j1/checkpoints/step-4']);
  expect(one.env.CUDA_VISIBLE_DEVICES).toBe('1');
  expect(one.env.PYTHONPATH.split(':')[0]).toBe('/x/torch');
  const two = workerLaunch(cfg, { dir: '/w/jobs/j2', kind: 'distill', gpus: [0, 1] }, '/w');
  expect(two.executor).toBe('torchrun');
  expect(two.args).toEqual(['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'retort_torch.worker', '--job', '/w/jobs/j2']);
  expect(two.env.CUDA_VISIBLE_DEVICES).toBe('0,1');
  const sharded = workerLaunch(cfg, { dir: '/w/jobs/j2', kind: 'distill', gpus: [0, 1], parallel: 'fsdp' }, '/w');
  expect(sharded.args.slice(-3)).toEqual(['--job', '/w/jobs/j2', '--fsdp']);
  const ownTeacherGpu = workerLaunch(cfg, { dir: '/w/jobs/j2', kind: 'distill', gpus: [2, 3], parallel: 'teacher-gpu' }, '/w');
  expect(ownTeacherGpu).toMatchObject({ executor: 'local', args: ['-m', 'retort_torch.worker', '--job', '/w/jobs/j2'] });
  expect(ownTeacherGpu.env.CUDA_VISIBLE_DEVICES).toBe('2,3'); // the worker puts the teacher on cuda:1
  expect(workerLaunch(cfg, { dir: '/w/jobs/j3', kind: 'eval', gpus: [0, 1] }, '/w').executor).toBe('local');
  expect(workerLaunch({ ...cfg, gpus: [] }, { dir: '/w/jobs/j4', kind: 'distill', gpus: [] }, '/w').env.CUDA_VISIBLE_DEVICES).toBeUndefined();
});

it('runs jobs FIFO per GPU set without letting a later job jump a waiting one', async () => {
  const submit = async (body: unknown) => {
    const r = await call(runner, 'POST', '/v1/jobs', body);
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    return r.json.id as string;
  };
  const a = await submit({ spec: fakeSpec('fake step_ms=20', 40, 0), gpus: [0] });
  const b = await submit({ spec: fakeSpec('fake step_ms=20', 5, 0), gpus: [1] });
  const c = await submit({ spec: fakeSpec('fake step_ms=20', 5, 0), gpus: [0] });
  const d = await submit({ kind: 'eval', model: { path: 'models/student' }, dataset: 'data/train.jsonl' }); // all GPUs
  const e = await submit({ spec: fakeSpec('fake step_ms=20', 5, 0), gpus: [1] });
  const bad = await call(runner, 'POST', '/v1/jobs', { spec: fakeSpec('x', 1, 0), gpus: [2] });
  expect(bad.status).toBe(400);
  expect(bad.json.message).toBe('gpus: no GPU 2 on this runner (it has 0, 1)');
  const refused = async (body: object) => {
    const r = await call(runner, 'POST', '/v1/jobs', body);
    return [r.status, r.json.message];
  };
  expect(await refused({ spec: fakeSpec('x', 1, 0), gpus: [1], parallel: 'fsdp' })).toEqual([400, "parallel: 'fsdp' shards the student over 2 or more GPUs (this job has 1)"]);
  expect(await refused({ spec: fakeSpec('x', 1, 0), gpus: [0], parallel: 'teacher-gpu' })).toEqual([
    400,
    "parallel: 'teacher-gpu' puts the student on one GPU and the teacher on another: give exactly 2 gpus (this job has 1)",
  ]);
  expect(await refused({ spec: { kind: 'eval', model: { path: 'models/student' }, dataset: 'data/train.jsonl' }, parallel: 'fsdp' })).toEqual([
    400,
    "parallel: 'fsdp' applies to distill jobs, not eval",
  ]);
  expect((await refused({ spec: fakeSpec('x', 1, 0), parallel: 'zero3' }))[0]).toBe(400);

  const jobs: Record<string, JobRecord> = Object.fromEntries(
    await Promise.all(Object.entries({ a, b, c, d, e }).map(async ([k, id]) => [k, await waitForState(runner, id, ['finished', 'failed'], 30_000)])),
  );
  for (const j of Object.values(jobs)) expect(j.state, j.error).toBe('finished');
  expect(jobs.d.gpus).toEqual([0, 1]);
  const { a: A, b: B, c: C, d: D, e: E } = jobs as Record<string, Required<JobRecord>>;
  expect(B.started).toBeLessThan(A.ended); // disjoint GPUs: together
  expect(C.started).toBeGreaterThanOrEqual(A.ended); // GPU 0 busy
  expect(D.started).toBeGreaterThanOrEqual(C.ended); // needs both
  expect(E.started).toBeGreaterThanOrEqual(D.ended); // GPU 1 was free long before, but D was waiting for it first
  expect(B.ended).toBeLessThan(D.started);

  const visible = async (id: string) => {
    const evs: TelemetryEvent[] = events((await readSse(`${runner.url}/v1/jobs/${id}/events`)).messages);
    const log = evs.find((ev) => ev.type === 'log' && ev.message.startsWith('CUDA_VISIBLE_DEVICES='));
    return log && log.type === 'log' ? log.message.split('=')[1] : undefined;
  };
  expect(await visible(a)).toBe('0');
  expect(await visible(b)).toBe('1');
  expect(await visible(d)).toBe('0,1');
});

it('keeps how a job uses its GPUs, also in a job database from before the parallel column', () => {
  const file = join(makeWorkspace(), 'runner.db');
  const old = new Database(file);
  old.exec('CREATE TABLE jobs (id TEXT PRIMARY KEY, kind TEXT NOT NULL, state TEXT NOT NULL, spec TEXT NOT NULL, gpus TEXT NOT NULL, created INTEGER NOT NULL, started INTEGER, ended INTEGER, error TEXT, attempts INTEGER NOT NULL DEFAULT 0, pid INTEGER, next_seq INTEGER NOT NULL DEFAULT 0)');
  old.close();
  const store = new JobStore(file);
  const spec = parseJobSpec(fakeSpec('main', 1, 0));
  store.createJob('j1-000001', spec, { gpus: [0, 1], parallel: 'fsdp' });
  store.createJob('j1-000002', spec, { gpus: [0, 1], parallel: 'ddp' });
  expect([store.job('j1-000001')?.parallel, store.job('j1-000002')?.parallel]).toEqual(['fsdp', 'ddp']);
  store.close();
});

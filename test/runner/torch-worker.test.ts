/**
 * The runner and the REAL torch worker end to end over HTTP, on random tiny Qwen3 checkpoints
 * (make_tiny) with the tiny byte-level tokenizer: submit a distill job, stream its events, kill the
 * runner process (-9) mid-job: its worker notices (parent-death signal) and exits with a checkpoint
 * instead of training on as an orphan; start the runner again; the job resumes from its checkpoint and
 * finishes with valid events; its last checkpoint, downloaded file by file, is an HF folder with a run manifest
 * that the engine (Dawn) opens with the torch worker's logits (≤ 1e-4 relative, DESIGN.md's measure).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RUN_MANIFEST_FILE, parseRunManifest } from '../../src/core/run-manifest.ts';
import { SafetensorsFile } from '../../src/core/safetensors.ts';
import type { CheckpointFiles } from '../../src/runner/api.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { NodeFileSource } from '../../src/node/files.ts';
import { gpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/numeric.ts';
import { tempDir, torchModule } from '../helpers/torch-worker.ts';
import { TINY_VOCAB, TOKEN, alive, call, events, killRunnerProcess, makeWorkspace, placeTokenizer, readSse, startRunnerProcess, stopRunnerProcesses, waitFor, waitForState } from './helpers.ts';

let ws: string;

beforeAll(() => {
  ws = makeWorkspace();
  const dims = ['--vocab', String(TINY_VOCAB), '--hidden', '32', '--layers', '2', '--heads', '2', '--kv-heads', '1', '--intermediate', '48', '--tie'];
  for (const [name, seed] of [['teacher', 1], ['student', 2]] as const) {
    torchModule('make_tiny', ['--arch', 'qwen3', '--out', join(ws, 'models', name), '--seed', String(seed), ...dims]);
    placeTokenizer(join(ws, 'models', name));
  }
});
afterAll(stopRunnerProcesses);

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

it('runs a distill job end to end over HTTP: runner killed (-9) mid-job, restarted, the job resumes and finishes; its checkpoint, downloaded, gives the engine the worker\'s logits', async () => {
  // The runner in its own process, so it can really die; the test process is only an HTTP client.
  const t0 = Date.now();
  const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  const first = await startRunnerProcess(ws, { torch: true });
  const created = await call(first, 'POST', '/v1/jobs', spec(40, 5));
  expect(created.status, created.text).toBe(201);
  const id: string = created.json.id;
  const seen = await readSse(`${first.url}/v1/jobs/${id}/events`, { stop: (m) => /"type":"checkpoint"/.test(m.data), timeoutMs: 120_000 });
  const firstCkpt = events(seen.messages).find((e) => e.type === 'checkpoint');
  expect(firstCkpt, JSON.stringify(seen.messages.slice(-5))).toBeDefined();
  const worker = Number(/worker \S+ pid (\d+)/.exec(events(seen.messages).map((e) => (e.type === 'log' ? e.message : '')).join('\n'))?.[1]);
  expect(alive(worker)).toBe(true);
  await killRunnerProcess(first, 'SIGKILL');
  const killedAt = at();
  const killed = Date.now();
  await waitFor('the orphaned worker to exit', async () => !alive(worker), 30_000);
  console.log(`e2e: the worker exited ${((Date.now() - killed) / 1000).toFixed(1)} s after its runner was killed (-9)`);

  const second = await startRunnerProcess(ws, { torch: true });
  const job = await waitForState(second, id, ['finished', 'failed', 'stopped'], 120_000);
  const total = (await call(second, 'GET', `/v1/jobs/${id}`)).json.events as number;
  const evs = events((await readSse(`${second.url}/v1/jobs/${id}/events`, { stop: (_m, all) => all.length >= total, timeoutMs: 30_000 })).messages);
  expect(job.state, `${job.error}\n${JSON.stringify(evs.filter((e) => e.type === 'log' || e.type === 'error'), null, 1)}`).toBe('finished');
  expect(job.attempts).toBe(2);
  expect(evs.map((e) => e.seq)).toEqual([...evs.keys()]); // nothing lost across the two runners
  // A worker line the runner could not validate would have become a warning naming 'worker stdout'.
  expect(evs.filter((e) => e.type === 'log' && e.message.startsWith('worker stdout'))).toEqual([]);
  for (const e of evs) {
    if (e.type !== 'step') continue;
    expect([e.stage, Number.isFinite(e.loss), e.metrics.soft >= 0]).toEqual([0, true, true]);
  }
  expect(evs.filter((e) => e.type === 'state').map((e) => (e as { state: string }).state)).toEqual(['queued', 'running', 'queued', 'running', 'finished']);
  const resumed = evs.find((e) => e.type === 'log' && /resum/i.test(e.message)) as { message: string } | undefined;
  expect(resumed?.message).toBeDefined();
  const resumedAt = Number(/step (\d+)/.exec(resumed!.message)![1]);
  expect(resumedAt).toBeGreaterThanOrEqual((firstCkpt as { step: number }).step);
  // The second worker went on from the checkpoint: it never trained step 1 again.
  const steps = evs.filter((e) => e.type === 'step').map((e) => (e as { step: number }).step);
  const restart = steps.findIndex((s, i) => i > 0 && s <= steps[i - 1]);
  expect(restart < 0 || steps[restart] > resumedAt - 1).toBe(true);
  expect(Math.max(...steps)).toBe(steps[0] === 0 ? 39 : 40);
  console.log(`e2e: killed at ${killedAt}, finished at ${at()}: runner killed after checkpoint ${(firstCkpt as { step: number }).step}, worker resumed at ${resumedAt}, ${steps.length} step events, final loss ${(evs.filter((e) => e.type === 'step').at(-1) as { loss: number }).loss.toFixed(4)}`);

  // Download the final checkpoint file by file over HTTP into a folder of our own.
  const ckpts = (await call(second, 'GET', `/v1/jobs/${id}/checkpoints`)).json as { step: number }[];
  const last = ckpts.at(-1)!.step;
  const listing = (await call(second, 'GET', `/v1/jobs/${id}/checkpoints/${last}`)).json as CheckpointFiles;
  const dir = tempDir('retort-download-');
  for (const f of listing.files) {
    const res = await fetch(`${second.url}/v1/jobs/${id}/checkpoints/${last}/files/${encodeURIComponent(f.name)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status, f.name).toBe(200);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.byteLength, f.name).toBe(f.bytes);
    writeFileSync(join(dir, f.name), bytes);
  }
  await killRunnerProcess(second, 'SIGTERM');
  // HF layout with the tokenizer and a run manifest that the engine's schema accepts (src/core/run-manifest.ts).
  expect(listing.files.map((f) => f.name)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', RUN_MANIFEST_FILE]));
  const manifest = parseRunManifest(readFileSync(join(dir, RUN_MANIFEST_FILE), 'utf8'), 'downloaded run_manifest.json');
  expect([manifest.spec.kind, manifest.seed, manifest.step, manifest.stage, manifest.stage_name, manifest.trainer.engine]).toEqual(['distill', 42, last, 0, 'kd', 'torch']);
  expect(listing.manifest).toEqual(manifest);

  // The engine (Dawn) opens the downloaded folder; the torch worker's model is the reference.
  const got = await engineLogits(dir);
  const ref = await torchLogits(dir);
  const { rel, abs } = relErr(got, ref);
  // Training moved the weights: the untrained student's logits are far from the trained ones.
  const moved = relErr(await engineLogits(join(ws, 'models', 'student')), got).rel;
  console.log(`e2e (${at()}): engine vs torch worker logits on the downloaded step-${last}: max abs ${abs.toExponential(2)}, rel ${rel.toExponential(2)} (untrained student differs by ${moved.toExponential(2)})`);
  expect(rel).toBeLessThan(1e-4);
  expect(moved).toBeGreaterThan(1e-3);
}, 300_000); // ~60 s alone on two cores; more when the machine is shared

const IDS = [1, 72, 101, 108, 108, 111, 32, 258, 2, 200, 43, 50];

async function engineLogits(dir: string): Promise<Float32Array> {
  const rt = await gpu();
  const model = new Decoder(rt, await loadWeights(rt, new NodeFileSource(), dir));
  const { hidden } = model.forward(Int32Array.from(IDS), 1, IDS.length);
  const logits = model.logits(hidden);
  try {
    return await rt.readF32(logits);
  } finally {
    hidden.dispose();
    logits.dispose();
    model.dispose();
  }
}

async function torchLogits(dir: string): Promise<Float32Array> {
  const out = join(tempDir(), 'ref.safetensors');
  torchModule('reference', ['forward', '--model', dir, '--ids', IDS.join(','), '--out', out]);
  return (await SafetensorsFile.fromBytes(new Uint8Array(readFileSync(out)))).float32('logits');
}

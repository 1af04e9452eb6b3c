/**
 * Export jobs on the runner: the export worker (src/cli/export-worker.ts, started by command line)
 * writes the transformers.js folder into the workspace, the same bytes as calling the exporter
 * directly; a model that cannot be exported fails the job with the exporter's message.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/node/files.ts';
import { exportOnnx } from '../../src/onnx/export.ts';
import type { Runner } from '../../src/runner/runner.ts';
import { torchModule } from '../helpers/torch-worker.ts';
import { TINY_VOCAB, call, makeWorkspace, placeTokenizer, startFakeRunner, waitForState } from './helpers.ts';

let runner: Runner;

beforeAll(async () => {
  const ws = makeWorkspace();
  const dims = ['--vocab', String(TINY_VOCAB), '--hidden', '32', '--layers', '2', '--heads', '2', '--kv-heads', '1', '--intermediate', '64', '--tie'];
  torchModule('make_tiny', ['--arch', 'qwen3', '--out', join(ws, 'models', 'tiny'), '--seed', '5', ...dims]);
  placeTokenizer(join(ws, 'models', 'tiny'));
  runner = await startFakeRunner(ws); // export jobs never reach the (fake) torch worker
});
afterAll(async () => {
  await runner?.close();
});

describe('export jobs', () => {
  it('write the ONNX folder atomically into the workspace, byte for byte what the exporter makes', async () => {
    const r = await call(runner, 'POST', '/v1/jobs', { kind: 'export', model: { path: 'models/tiny' }, dtype: 'q4', out: 'exports/tiny-q4' });
    expect(r.status, r.text).toBe(201);
    const job = await waitForState(runner, r.json.id, ['finished', 'failed'], 120_000);
    expect(job.state, job.error).toBe('finished');
    const out = join(runner.workspace, 'exports', 'tiny-q4');
    const direct = await exportOnnx(new NodeFileSource(runner.workspace), 'models/tiny', { dtype: 'q4' });
    expect(direct.onnxFile).toBe('model_q4.onnx');
    for (const f of direct.files) {
      const want = Buffer.concat(f.chunks);
      expect(readFileSync(join(out, f.path)).equals(want), f.path).toBe(true);
    }
    expect(readdirSync(join(runner.workspace, 'exports'))).toEqual(['tiny-q4']); // no temporary folder left
    console.log(`export job: ${direct.files.map((f) => f.path).join(', ')}`);
  });

  it('fail with the exporter’s message when the model cannot be exported', async () => {
    const r = await call(runner, 'POST', '/v1/jobs', { kind: 'export', model: { path: 'models/student' }, dtype: 'fp32', out: 'exports/none' });
    expect(r.status, r.text).toBe(201);
    const job = await waitForState(runner, r.json.id, ['finished', 'failed'], 120_000);
    expect(job.state).toBe('failed');
    console.log(`failed export: ${job.error}`);
    expect(job.error).toMatch(/models\/student\/config\.json: "hidden_size" is missing/); // a tokenizer-only folder
    expect(existsSync(join(runner.workspace, 'exports', 'none'))).toBe(false);
  });
});

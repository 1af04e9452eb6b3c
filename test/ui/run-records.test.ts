/**
 * The Train/Runs views' pure pieces: telemetry folded into a run, ETA, CSV/JSONL export, config
 * flattening for the diff, the length histogram, and the .tar of a checkpoint (read back by the
 * system `tar`, an independent reader).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { etaMs, flattenSpec, foldEvent, newRun, runsToCsv, runsToJsonl, stageBoundaries } from '../../src/ui/components/run-model.ts';
import { histogram } from '../../src/ui/components/dataset-inspect.ts';
import { setIn } from '../../src/ui/components/config-form-value.ts';
import { tarFolder } from '../../src/ui/components/tar.ts';
import type { JobSpecInput } from '../../src/core/schema/job-spec.ts';

const spec = {
  kind: 'distill', teacher: { path: 't' }, student: { path: 's' },
  stages: [{ name: 'a', data: { path: 'd.jsonl' }, stop: { steps: 3 } }, { name: 'b', data: { path: 'd.jsonl' }, stop: { steps: 2 } }],
} satisfies JobSpecInput;

function runWithSteps() {
  const run = newRun('local-1', 'local', spec);
  const env = (seq: number, time: number) => ({ job: 'local-1', seq, time });
  foldEvent(run, { ...env(0, 1000), type: 'state', state: 'running' });
  [0, 1, 2, 3].forEach((step) =>
    foldEvent(run, { ...env(step + 1, 1000 + 500 * step), type: 'step', step, stage: step < 3 ? 0 : 1, loss: 4 - step, metrics: step === 0 ? { soft: 1 } : { soft: 1, hard: 2 } }),
  );
  foldEvent(run, { ...env(5, 3000), type: 'checkpoint', step: 4, path: 'local-1/step-4', bytes: 10 });
  foldEvent(run, { ...env(6, 3000), type: 'error', message: 'x.jsonl:3: bad', where: 'x.jsonl:3', recoverable: true });
  return run;
}

describe('run records', () => {
  it('fold telemetry: steps, state, checkpoint, errors, stage boundaries, ETA', () => {
    const run = runWithSteps();
    expect(run.totalSteps).toBe(5);
    expect(run.state).toBe('running');
    expect(run.steps.map((p) => p.loss)).toEqual([4, 3, 2, 1]);
    expect(run.checkpoints).toEqual([{ step: 4, path: 'local-1/step-4', bytes: 10, time: 3000 }]);
    expect(run.errors).toEqual(['x.jsonl:3: bad']);
    expect(run.lastSeq).toBe(6);
    expect(stageBoundaries(run.steps)).toEqual([3]);
    expect(etaMs(run)).toBe(500); // one step left at 500 ms a step
  });

  it('export every step of every run as CSV and JSONL', () => {
    const run = runWithSteps();
    const csv = runsToCsv([run]).trim().split('\n');
    expect(csv[0]).toBe('run,job,step,stage,time,loss,soft,hard');
    expect(csv[1]).toBe(`${run.id},local-1,0,0,1000,4,1,`);
    expect(csv[4]).toBe(`${run.id},local-1,3,1,2500,1,1,2`);
    const lines = runsToJsonl([run]).trim().split('\n').map((l) => JSON.parse(l) as { step: number; metrics: Record<string, number> });
    expect(lines.map((l) => l.step)).toEqual([0, 1, 2, 3]);
    expect(lines[3].metrics).toEqual({ soft: 1, hard: 2 });
  });

  it('flatten specs for the diff and set form values by path', () => {
    expect([...flattenSpec({ a: { b: 1, c: [0.9, 0.99] }, s: [{ x: 'y' }] })]).toEqual([['a.b', '1'], ['a.c', '[0.9,0.99]'], ['s.0.x', '"y"']]);
    const v = setIn({ stages: [{ loss: { alpha: 0.5 } }] }, ['stages', 0, 'loss', 'alpha'], 0.7);
    expect(v).toEqual({ stages: [{ loss: { alpha: 0.7 } }] });
    expect(setIn(v, ['stages', 0, 'loss', 'alpha'], undefined)).toEqual({ stages: [{ loss: {} }] });
  });

  it('bins lengths into equal-width bins', () => {
    const h = histogram([0, 1, 9, 10, 47], 5);
    expect(h.starts).toEqual([0, 10, 20, 30, 40]);
    expect(h.counts).toEqual([3, 1, 0, 0, 1]);
  });

  it('writes a tar that the system tar unpacks to the same files', async () => {
    const files = new Map([['config.json', new TextEncoder().encode('{"a":1}')], ['model.safetensors', Uint8Array.from({ length: 1300 }, (_, i) => i % 251)]]);
    const dir = mkdtempSync(join(tmpdir(), 'retort-tar-'));
    writeFileSync(join(dir, 'ck.tar'), new Uint8Array(await tarFolder('step-4', files).arrayBuffer()));
    execFileSync('tar', ['xf', 'ck.tar'], { cwd: dir });
    for (const [name, bytes] of files) expect(new Uint8Array(readFileSync(join(dir, 'step-4', name)))).toEqual(bytes);
  });
});

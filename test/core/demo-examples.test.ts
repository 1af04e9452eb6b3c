import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { runJob } from '../../src/cli/demo.ts';
import { parseJobSpec } from '../../src/core/schema/index.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { findPython } from '../../src/runner/executor.ts';
import { tempDir } from '../helpers/torch-worker.ts';

const EXAMPLES = 'examples';

/** An example's JSON with its paths (relative to the example's folder) made absolute. */
function loadExample(name: string): Record<string, any> {
  const file = join(EXAMPLES, name);
  const base = dirname(resolve(file));
  const spec = JSON.parse(readFileSync(file, 'utf8'));
  const abs = (p: string) => resolve(base, p);
  for (const key of ['prompts', 'output', 'dataset']) if (typeof spec[key] === 'string') spec[key] = abs(spec[key]);
  for (const ref of [spec.teacher, spec.student, spec.model, spec.source]) if (typeof ref?.path === 'string') ref.path = abs(ref.path);
  for (const stage of spec.stages ?? []) stage.data.path = abs(stage.data.path);
  if (typeof spec.eval?.dataset === 'string') spec.eval.dataset = abs(spec.eval.dataset);
  return spec;
}

/** The first `n` lines of a JSONL file, as a new file. */
function head(file: string, n: number): string {
  const out = join(tempDir('example-data-'), 'head.jsonl');
  writeFileSync(out, readFileSync(file, 'utf8').split('\n').slice(0, n).join('\n') + '\n');
  return out;
}

/** Runs a (shrunk) example on the torch worker; its events. */
async function run(spec: Record<string, any>): Promise<TelemetryEvent[]> {
  const events: TelemetryEvent[] = [];
  await runJob(findPython(), process.cwd(), tempDir('example-job-'), parseJobSpec(spec, 'example'), (e) => events.push(e));
  return events;
}

/** A distill example cut to `steps` optimizer steps on a few records: the example's loss, a tiny batch. */
function shrink(spec: Record<string, any>, steps = 1, records = 8): Record<string, any> {
  spec.stages = spec.stages.map((s: Record<string, any>) => ({ ...s, data: { ...s.data, path: head(s.data.path, records) }, stop: { steps } }));
  spec.batch = { microBatch: 2, gradAccumulation: 1 };
  spec.checkpoint = { everySteps: 0, keepLast: 1 };
  spec.eval = { everySteps: 0 };
  return spec;
}

const steps = (events: TelemetryEvent[]) => events.flatMap((e) => (e.type === 'step' ? [e] : []));

describe('examples/', () => {
  it('every example is a valid JobSpec', () => {
    const files = readdirSync(EXAMPLES).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) expect(() => parseJobSpec(JSON.parse(readFileSync(join(EXAMPLES, f), 'utf8')), f), f).not.toThrow();
  });

  it('temperature schedule 5 → 1 (two steps) and hidden-state distillation (one) run with their terms on the torch worker', { timeout: 900_000 }, async () => {
    const schedule = steps(await run(shrink(loadExample('demo-temperature-schedule.json'), 2)));
    expect(schedule.map((e) => e.metrics.temperature)).toEqual([5, 1]); // a linear 5 → 1 ramp, ends included
    const hidden = steps(await run(shrink(loadExample('demo-hidden.json'))));
    expect(hidden).toHaveLength(1);
    console.log(`hidden-state step: loss ${hidden[0].loss.toFixed(4)}, hidden ${hidden[0].metrics.hidden?.toFixed(4)}`);
    expect(hidden[0].metrics.hidden).toBeGreaterThan(0);
  });

  it('sparse top-k KD trains on the shipped teacher traces (offline targets, no teacher run)', { timeout: 600_000 }, async () => {
    const spec = loadExample('demo-topk-offline.json');
    const first = JSON.parse(readFileSync(spec.stages[0].data.path, 'utf8').split('\n')[0]);
    expect(first.teacher_topk?.[0]?.ids).toHaveLength(4);
    const s = steps(await run(shrink(spec)));
    expect(s).toHaveLength(1);
    expect(s[0].metrics.soft).toBeGreaterThan(0);
  });

  it('data distillation: teacher traces filtered by the answer check, then SFT on them', { timeout: 900_000 }, async () => {
    const gen = loadExample('demo-teacher-traces.json');
    gen.prompts = head(gen.prompts, 4);
    gen.output = join(tempDir('example-traces-'), 'traces.jsonl');
    const events = await run(gen);
    const kept = readFileSync(gen.output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const report = events.find((e) => e.type === 'eval');
    console.log(`traces: ${kept.length} kept of 8 samples; ${JSON.stringify(report?.type === 'eval' ? report.metrics : {})}`);
    expect(kept.length).toBeGreaterThan(0);
    for (const r of kept) expect(r.messages.at(-1).content).toContain(`\\boxed{${r.answer}}`);
    const sft = loadExample('demo-distill-traces.json');
    sft.stages[0].data.path = gen.output;
    expect(steps(await run(shrink(sft)))).toHaveLength(1);
  });
});

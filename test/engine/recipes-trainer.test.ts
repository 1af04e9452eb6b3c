/**
 * Multi-stage recipes on the engine's trainer: each stage's own temperature schedule, lr and step
 * count, the stage index on every step event (the charts' boundaries), an on-policy stage whose
 * micro-batches the student writes; and what the engine leaves to the torch worker is refused.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/torch-worker.ts';
import { distillJson, tinyWithDemoTokenizer } from '../helpers/distill-cli.ts';
import { parseJobSpec, type DistillConfig } from '../../src/core/schema/index.ts';
import { assertEngineRecipes } from '../../src/engine/train/on-policy.ts';

const data = { path: resolve('public/data/arith/val.jsonl'), format: 'chat', maxSeqLen: 64 };

function config(stages: unknown[]) {
  return {
    kind: 'distill', teacher: { path: 'teacher' }, student: { path: 'student' }, seed: 5,
    batch: { microBatch: 2, gradAccumulation: 1 },
    optimizer: { lr: 0.002, schedule: { kind: 'constant', warmupSteps: 0, minLrRatio: 1 } },
    stages, checkpoint: { everySteps: 0, keepLast: 1 },
  };
}

describe('recipes on the engine trainer', () => {
  it('stages keep their own temperature, lr and steps; an on-policy stage trains on student samples', { timeout: 400_000 }, async () => {
    const work = tempDir('recipes-engine-');
    const file = join(work, 'progressive.json');
    writeFileSync(file, JSON.stringify({
      ...config([
        { name: 'warm', data, loss: { alpha: 0.9, temperature: { kind: 'linear', from: 4, to: 1 } }, stop: { steps: 2 } },
        { name: 'gkd', data, lr: 0.001, loss: { divergence: 'reverse-kl', alpha: 0.5, onPolicy: { fraction: 1, temperature: 1, maxNewTokens: 4 } }, stop: { steps: 1 } },
      ]),
      teacher: { path: tinyWithDemoTokenizer(51) }, student: { path: tinyWithDemoTokenizer(52) },
    }));
    const { code, events } = await distillJson<{ type: string; step: number; stage: number; loss: number; metrics: Record<string, number> }>(
      ['--config', file, '--out', join(work, 'run')]);
    expect(code).toBe(0);
    const steps = events.filter((e) => e.type === 'step');
    console.log(steps.map((s) => `step ${s.step} stage ${s.stage} T ${s.metrics.temperature} lr ${s.metrics.lr} loss ${s.loss.toFixed(4)} on_policy ${s.metrics.on_policy ?? '-'}`).join('\n'));
    expect(steps.map((s) => [s.step, s.stage])).toEqual([[0, 0], [1, 0], [2, 1]]);
    expect(steps.map((s) => s.metrics.temperature)).toEqual([4, 1, 1]);
    expect(steps.map((s) => s.metrics.lr)).toEqual([0.002, 0.002, 0.001]);
    expect(steps[2].metrics.on_policy).toBe(1);
    expect(steps[0].metrics.on_policy).toBeUndefined();
    // α is ignored on the student's own samples: the step's loss is its soft term alone.
    expect(steps[2].loss).toBeCloseTo(steps[2].metrics.soft, 5);
    for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
  });

  it('refuses what only the torch worker runs, naming the stage and field', () => {
    const cases: [unknown, string][] = [
      [{ selection: { by: 'teacher-entropy' } }, 'stages.0.loss.selection (stage "s")'],
      [{ divergence: 'none', uld: { weight: 1 } }, 'stages.0.loss.uld'],
      [{ attention: { layerMap: [[0, 0]] } }, 'stages.0.loss.attention'],
    ];
    for (const [loss, where] of cases) {
      const spec = parseJobSpec(config([{ name: 's', data, loss, stop: { steps: 1 } }]), 'x.json') as DistillConfig;
      expect(() => assertEngineRecipes(spec.stages, true)).toThrow(where);
    }
    const budget = parseJobSpec(config([{ name: 's', data, loss: {}, stop: { steps: 1, maxTokens: 100 } }]), 'x.json') as DistillConfig;
    expect(() => assertEngineRecipes(budget.stages, true)).toThrow('stages.0.stop.maxTokens');
    const seq = parseJobSpec(config([{ name: 's', data, loss: { divergence: 'none', alpha: 0, teacherTargets: 'none', onPolicy: { source: 'teacher' } }, stop: { steps: 1 } }]), 'x.json') as DistillConfig;
    expect(() => assertEngineRecipes(seq.stages, false)).toThrow("onPolicy.source 'teacher'");
  });
});

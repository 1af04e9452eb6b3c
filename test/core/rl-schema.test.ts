import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../src/core/schema/index.ts';

const example = (name: string): unknown => JSON.parse(readFileSync(`examples/${name}`, 'utf8'));

describe('RL stages and data recipes in the JobSpec', () => {
  it.each(['demo-rl-grpo.json', 'demo-rl-ppo.json', 'demo-data-recipes.json'])('%s parses', (name) => {
    const spec = parseJobSpec(example(name), name);
    expect(spec.kind).toBe('distill');
  });

  it('fills the seed-000 defaults: 0.3 task + 0.7 similarity, PPO, KL to the teacher', () => {
    const spec = parseJobSpec({ kind: 'distill', teacher: { path: 't' }, student: { path: 's' }, stages: [{ data: { path: 'd.jsonl' }, stop: { steps: 1 }, rl: {} }] });
    if (spec.kind !== 'distill') throw new Error('not a distill spec');
    expect(spec.stages[0].rl).toMatchObject({ algorithm: 'ppo', taskWeight: 0.3, similarityWeight: 0.7, klTarget: 'teacher', clip: 0.2, gaeLambda: 0.95 });
  });

  it.each([
    [{ algorithm: 'grpo', groupSize: 1 }, 'stages.0.rl.groupSize: GRPO compares samples of one prompt'],
    [{ taskWeight: 0, similarityWeight: 0 }, 'stages.0.rl.similarityWeight: taskWeight and similarityWeight are both 0'],
    [{ clip: 0 }, 'stages.0.rl.clip'],
  ])('refuses %j naming the field', (rl, message) => {
    const stage = { data: { path: 'd.jsonl' }, stop: { steps: 1 }, rl };
    expect(() => parseJobSpec({ kind: 'distill', teacher: { path: 't' }, student: { path: 's' }, stages: [stage] }, 'x.json')).toThrow(message);
  });

  it('refuses negatives with packing', () => {
    const stage = { data: { path: 'd.jsonl', packing: true, negatives: {} }, stop: { steps: 1 } };
    expect(() => parseJobSpec({ kind: 'distill', teacher: { path: 't' }, student: { path: 's' }, stages: [stage] }, 'x.json')).toThrow(
      'stages.0.data.negatives: a negative row is paired with its correct row by prompt: set packing false',
    );
  });
});

describe('the engine and the torch-worker-only recipes', () => {
  it.each([
    ['demo-rl-grpo.json', 'stages.1.rl: runs on the runner (torch worker) only'],
    ['demo-data-recipes.json', 'stages.0.data.negatives: runs on the runner (torch worker) only'],
  ])('refuses %s before touching the GPU', async (name, message) => {
    const { runDistill } = await import('../../src/engine/train/trainer.ts');
    const spec = parseJobSpec(example(name));
    if (spec.kind !== 'distill') throw new Error('not a distill spec');
    // nothing but the config is read before the refusal, so no device or model is needed
    const none = {} as never;
    await expect(runDistill(none, spec, none, none, { emit: () => {} })).rejects.toThrow(message);
  });
});

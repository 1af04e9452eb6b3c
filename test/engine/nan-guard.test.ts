import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { randomWeights } from '../../src/engine/model/weights.ts';
import { tinySpec } from '../../src/engine/session/self-test.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';

describe('NaN/Inf guard', () => {
  it('a step whose loss is not finite changes no weight', async () => {
    const rt = await gpu();
    const student = new Decoder(rt, randomWeights(rt, tinySpec(), 3));
    const teacher = new Decoder(rt, randomWeights(rt, tinySpec(), 4));
    // Poison the teacher: its logits become NaN, so the soft loss and every gradient do too.
    const w = teacher.w('model.norm.weight');
    rt.write(w, new Float32Array(w.size).fill(NaN));
    const before = new Map<string, Float32Array>();
    for (const [name, t] of student.weights) before.set(name, await rt.readF32(t));
    const step = new DistillStep(rt, student, teacher, [...student.weights.values()], 96, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 });
    const ids = Int32Array.from({ length: 12 }, (_, i) => 2 + i);
    const labels = Int32Array.from(ids, (_, i) => (i + 1 < 12 ? ids[i + 1] : -1));
    step.micro({ ids, labels, B: 1, T: 12 }, { divergence: 'forward-kl', alpha: 0.5, temperature: 2, beta: 0.5, lambda: 0.1 }, 11);
    const stats = await step.apply(1e-2);
    expect(stats.skipped).toBe(true);
    expect(Number.isFinite(stats.loss)).toBe(false);
    for (const [name, t] of student.weights) expect(await rt.readF32(t), name).toEqual(before.get(name));
    step.dispose();
  });
});

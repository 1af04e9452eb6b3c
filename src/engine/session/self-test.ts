import type { Runtime } from '../runtime.ts';
import type { ModelSpec } from '../../core/model-spec.ts';
import { Decoder } from '../model/decoder.ts';
import { randomWeights } from '../model/weights.ts';
import { DistillStep } from '../train/distill-step.ts';
import { rng } from '../../core/random.ts';

/** A tiny Qwen2-shaped spec for smoke tests and the device check (no download needed). */
export function tinySpec(over: Partial<ModelSpec> = {}): ModelSpec {
  return {
    arch: 'qwen2', vocabSize: 96, hidden: 32, intermediate: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 8,
    rmsEps: 1e-6, ropeTheta: 10000, ropeScaling: { type: 'none' }, maxPositions: 256, tieEmbeddings: true,
    qkvBias: true, oBias: false, qkNorm: false, mlpBias: false, torchDtype: 'float32', bosTokenId: null, eosTokenIds: [1],
    ...over,
  };
}

export interface SelfTestResult {
  adapter: string;
  isSoftware: boolean;
  forwardMs: number;
  losses: number[];
  stepMs: number[];
}

/**
 * Distils a random teacher into a random student for a few steps on this device: proves the whole
 * path (forward, fused loss, backward, AdamW) runs here, and that the loss goes down.
 */
export async function engineSelfTest(rt: Runtime, steps = 5, seed = 1): Promise<SelfTestResult> {
  const teacher = new Decoder(rt, randomWeights(rt, tinySpec(), seed, 0.5));
  const student = new Decoder(rt, randomWeights(rt, tinySpec(), seed + 1));
  const B = 2, T = 16;
  const r = rng(seed + 2);
  const ids = Int32Array.from({ length: B * T }, () => 2 + Math.floor(r() * 90));
  const labels = Int32Array.from({ length: B * T }, (_, i) => ((i + 1) % T === 0 ? -1 : ids[i + 1]));
  const count = labels.filter((l) => l >= 0).length;

  let t0 = performance.now();
  const fwd = student.forward(ids, B, T);
  await rt.readF32(fwd.hidden);
  fwd.hidden.dispose();
  const forwardMs = performance.now() - t0;

  const params = [...student.weights.values()];
  const step = new DistillStep(rt, student, teacher, params, 96, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 });
  const losses: number[] = [];
  const stepMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    t0 = performance.now();
    step.micro({ ids, labels, B, T }, { divergence: 'forward-kl', alpha: 0.9, temperature: 2, beta: 0.5, lambda: 0.1 }, count);
    const stats = await step.apply(3e-3);
    losses.push(stats.loss);
    stepMs.push(performance.now() - t0);
  }
  step.dispose();
  teacher.dispose();
  student.dispose();
  return { adapter: rt.env.adapter, isSoftware: rt.env.isSoftware, forwardMs, losses, stepMs };
}

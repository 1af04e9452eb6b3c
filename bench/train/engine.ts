import type { ModelSpec } from '../../src/core/model-spec.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';
import { engineWeights } from '../model/engine-weights.ts';
import { ADAM, LOSS, type Batch, type HostWeights } from '../model/student.ts';
import type { Timed } from '../timed.ts';

/**
 * The engine's distillation step (student forward on a tape, teacher forward, fused chunked LM-head
 * loss, backward, AdamW with clipping), reading back its scalars each step as the trainer does.
 */
export function engineTrainStep(rt: Runtime, spec: ModelSpec, student: HostWeights, teacher: HostWeights, batch: Batch): Timed {
  const s = new Decoder(rt, engineWeights(rt, spec, student));
  const t = new Decoder(rt, engineWeights(rt, spec, teacher));
  const step = new DistillStep(rt, s, t, [...s.weights.values()], spec.vocabSize, {
    beta1: ADAM.beta1, beta2: ADAM.beta2, eps: ADAM.eps, weightDecay: 0, maxGradNorm: ADAM.maxGradNorm,
  });
  const loss = { divergence: 'forward-kl', alpha: LOSS.alpha, temperature: LOSS.temperature, beta: 0.5, lambda: 0.1 } as const;
  let firstLoss: number | null = null;
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        step.micro({ ids: batch.ids, labels: batch.labels, B: batch.B, T: batch.T }, loss, batch.count);
        const stats = await step.apply(ADAM.lr);
        firstLoss ??= stats.loss;
      }
    },
    async read() {
      if (firstLoss === null) throw new Error('engine step: read before run');
      return Float32Array.of(firstLoss);
    },
    dispose() {
      step.dispose();
      s.dispose();
      t.dispose();
    },
  };
}

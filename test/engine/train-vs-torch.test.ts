import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/numeric.ts';
import { makeTiny, tempDir, torchModule } from '../helpers/torch-worker.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { SafetensorsFile } from '../../src/core/safetensors.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';
import { engineBatch, hfLabels, ROWS } from '../helpers/train-batch.ts';

const files = new NodeFileSource();

describe('one distillation training step vs the torch worker (fp32)', () => {
  // α = 0 with a teacher loaded: plain cross-entropy, and the step must not ask for a teacher forward it skipped.
  const cases = [['forward-kl', 0.6], ['reverse-kl', 0.6], ['gjsd', 0.6], ['tvd', 0.6], ['forward-kl', 0]] as const;
  for (const [divergence, alpha] of cases) {
    it(`${divergence}, α=${alpha}, T=2: loss and every updated weight ≤ 1e-4 relative`, async () => {
      const rt = await gpu();
      const teacherDir = makeTiny('qwen2', 11);
      const studentDir = makeTiny('qwen2', 12);
      const work = tempDir();
      const loss = { divergence, alpha, temperature: 2.0, beta: 0.3, skew: 0.1 };
      // eps 1e-3, not 1e-8: Adam's first update is lr·g/(|g| + eps), which for eps ≪ |g| is lr·sign(g) and
      // flips on float noise where g ≈ 0 — that would test rounding, not the engine. Gradients are
      // compared on their own below.
      const optimizer = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-3, weight_decay: 0.01 };
      writeFileSync(join(work, 'batch.json'), JSON.stringify({ input_ids: ROWS, labels: hfLabels() }));
      writeFileSync(join(work, 'config.json'), JSON.stringify({ loss, teacher: teacherDir, optimizer, max_grad_norm: 1.0 }));
      torchModule('reference', ['train-step', '--model', studentDir, '--batch', join(work, 'batch.json'), '--config', join(work, 'config.json'), '--out', join(work, 'out')]);
      const ref = JSON.parse(readFileSync(join(work, 'out', 'loss.json'), 'utf8')) as { total: number; soft: number; hard: number; grad_norm: number };
      const updated = SafetensorsFile.fromBytes(new Uint8Array(readFileSync(join(work, 'out', 'model.safetensors'))));

      const teacher = new Decoder(rt, await loadWeights(rt, files, teacherDir));
      const student = new Decoder(rt, await loadWeights(rt, files, studentDir));
      const params = [...student.weights.values()];
      const step = new DistillStep(rt, student, teacher, params, student.spec.vocabSize, {
        beta1: 0.9, beta2: 0.999, eps: optimizer.eps, weightDecay: 0.01, maxGradNorm: 1.0,
      });
      const b = engineBatch();
      step.micro(b, { divergence, alpha: loss.alpha, temperature: loss.temperature, beta: loss.beta, lambda: loss.skew }, b.count);
      const refGrads = SafetensorsFile.fromBytes(new Uint8Array(readFileSync(join(work, 'out', 'grads.safetensors'))));
      // The torch worker saves gradients after clip_grad_norm_(max_norm = 1).
      const refNorm = (JSON.parse(readFileSync(join(work, 'out', 'loss.json'), 'utf8')) as { grad_norm: number }).grad_norm;
      const clip = Math.min(1, 1 / (refNorm + 1e-6));
      let worstGrad = { name: '', rel: 0 };
      for (const [name, t] of student.weights) {
        const { rel } = relErr((await rt.readF32(t.grad!)).map((g) => g * clip), await refGrads.float32(name));
        if (rel > worstGrad.rel) worstGrad = { name, rel };
      }
      console.log(`${divergence}: worst gradient ${worstGrad.name} rel ${worstGrad.rel.toExponential(2)}`);
      expect(worstGrad.rel).toBeLessThan(1e-4);
      const stats = await step.apply(optimizer.lr);
      console.log(`${divergence}: loss engine ${stats.loss.toFixed(6)} torch ${ref.total.toFixed(6)}; grad norm ${stats.gradNorm.toFixed(5)} vs ${ref.grad_norm.toFixed(5)}`);
      expect(Math.abs(stats.loss - ref.total) / Math.abs(ref.total)).toBeLessThan(1e-4);
      expect(Math.abs(stats.soft - ref.soft) / Math.max(1e-6, Math.abs(ref.soft))).toBeLessThan(1e-4);
      expect(Math.abs(stats.gradNorm - ref.grad_norm) / ref.grad_norm).toBeLessThan(1e-3);
      let worst = { name: '', rel: 0 };
      for (const [name, t] of student.weights) {
        const { rel } = relErr(await rt.readF32(t), await updated.float32(name));
        if (rel > worst.rel) worst = { name, rel };
      }
      console.log(`${divergence}: worst updated weight ${worst.name} rel ${worst.rel.toExponential(2)}`);
      expect(worst.rel).toBeLessThan(1e-4);
      step.dispose();
      teacher.dispose();
      student.dispose();
    });
  }
});

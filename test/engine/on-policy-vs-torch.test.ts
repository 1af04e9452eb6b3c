import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpu } from '../helpers/gpu.ts';
import { makeTiny, tempDir, torchModule } from '../helpers/torch-worker.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { collate, type Example } from '../../src/core/dataset.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';
import { OnPolicySampler, withContinuation } from '../../src/engine/train/on-policy.ts';

const files = new NodeFileSource();
const EOS = 2;

/** Dataset rows: a 3- or 4-token prompt, then a completion the sampled continuation replaces. */
const ROWS = [
  { ids: [5, 9, 33, 71, 12, 4], prompt: 3 },
  { ids: [8, 61, 2 + 1, 14, 14, 3, 55], prompt: 4 },
];
/** "Sampled" continuations, fixed so both sides train on the same ids; the first stops at EOS. */
const SAMPLES = [
  [40, 41, EOS, 99, 98],
  [17, 23, 29, 31],
];

function example(ids: number[], prompt: number): Example {
  const labels = ids.map((_, t) => (t >= prompt - 1 && t + 1 < ids.length ? ids[t + 1] : -1));
  const lossMask = Uint8Array.from(ids, (_, t) => (t >= prompt ? 1 : 0));
  return { ids: Int32Array.from(ids), labels: Int32Array.from(labels), lossMask, docStarts: [0], lines: [1] };
}

describe('on-policy KD (GKD)', () => {
  it('the draw follows λ: never at 0, always at 1, reproducible', () => {
    const cfg = { source: 'student' as const, temperature: 1, maxNewTokens: 8 };
    const never = new OnPolicySampler({ ...cfg, fraction: 0 }, 3, [EOS], 64, 128);
    const always = new OnPolicySampler({ ...cfg, fraction: 1 }, 3, [EOS], 64, 128);
    const quarter = new OnPolicySampler({ ...cfg, fraction: 0.25 }, 3, [EOS], 64, 128);
    const draws = (s: OnPolicySampler) => Array.from({ length: 200 }, (_, i) => s.chosen(i >> 1, i & 1));
    expect(draws(never).some(Boolean)).toBe(false);
    expect(draws(always).every(Boolean)).toBe(true);
    const n = draws(quarter).filter(Boolean).length;
    expect(draws(quarter)).toEqual(draws(quarter));
    expect(n).toBeGreaterThanOrEqual(30); // 50 ± 3σ
    expect(n).toBeLessThanOrEqual(70);
  });

  it('first step on fixed sampled ids: same batch and loss as the torch worker (fp32, ≤ 1e-4)', async () => {
    const rt = await gpu();
    const teacherDir = makeTiny('qwen2', 11);
    const studentDir = makeTiny('qwen2', 12);
    const work = tempDir();
    const examples = ROWS.map((r, i) => withContinuation(example(r.ids, r.prompt), SAMPLES[i], [EOS], `row ${i}`));

    // The torch worker builds the same batch from the same rows and samples (on_policy.py) ...
    writeFileSync(join(work, 'rows.json'), JSON.stringify(ROWS.map((r) => {
      const e = example(r.ids, r.prompt);
      return { ids: Array.from(e.ids), labels: Array.from(e.labels) };
    })));
    writeFileSync(join(work, 'samples.json'), JSON.stringify(SAMPLES));
    torchModule('on_policy', ['build', '--rows', join(work, 'rows.json'), '--samples', join(work, 'samples.json'), '--eos', String(EOS), '--out', join(work, 'batch.json')]);
    const torchBatch = JSON.parse(readFileSync(join(work, 'batch.json'), 'utf8')) as { input_ids: number[][]; labels: number[][] };
    examples.forEach((e, b) => {
      expect(torchBatch.input_ids[b].slice(0, e.ids.length)).toEqual(Array.from(e.ids));
      const hf = Array.from(e.labels, (_, t) => (t > 0 && e.labels[t - 1] >= 0 ? e.labels[t - 1] : -100));
      expect(torchBatch.labels[b].slice(0, e.ids.length)).toEqual(hf);
    });
    expect(examples[0].ids.length).toBe(3 + 3); // cut after EOS

    // ... and takes its first step on it.
    const loss = { divergence: 'gjsd' as const, alpha: 0.7, temperature: 1.5, beta: 0.4, skew: 0.1 };
    const optimizer = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-3, weight_decay: 0.0 };
    writeFileSync(join(work, 'config.json'), JSON.stringify({ loss, teacher: teacherDir, optimizer, max_grad_norm: 1.0 }));
    torchModule('reference', ['train-step', '--model', studentDir, '--batch', join(work, 'batch.json'), '--config', join(work, 'config.json'), '--out', join(work, 'out')]);
    const ref = JSON.parse(readFileSync(join(work, 'out', 'loss.json'), 'utf8')) as { total: number; soft: number; grad_norm: number };

    const teacher = new Decoder(rt, await loadWeights(rt, files, teacherDir));
    const student = new Decoder(rt, await loadWeights(rt, files, studentDir));
    const step = new DistillStep(rt, student, teacher, [...student.weights.values()], student.spec.vocabSize, {
      beta1: 0.9, beta2: 0.999, eps: optimizer.eps, weightDecay: 0, maxGradNorm: 1.0,
    });
    const b = collate(examples, { padId: 0 });
    const count = b.labels.filter((l) => l >= 0).length;
    step.micro({ ids: b.ids, labels: b.labels, B: b.size, T: b.seqLen }, { ...loss, lambda: loss.skew }, count);
    const st = await step.apply(optimizer.lr);
    const rel = Math.abs(st.loss - ref.total) / Math.abs(ref.total);
    console.log(`on-policy step 0 (gjsd β=0.4): engine ${st.loss.toFixed(6)} torch ${ref.total.toFixed(6)} rel ${rel.toExponential(2)}; grad norm ${st.gradNorm.toFixed(5)} vs ${ref.grad_norm.toFixed(5)}`);
    expect(rel).toBeLessThan(1e-4);
    expect(Math.abs(st.soft - ref.soft) / ref.soft).toBeLessThan(1e-4);
    expect(Math.abs(st.gradNorm - ref.grad_norm) / ref.grad_norm).toBeLessThan(1e-3);

    // The engine's own sampler continues a prompt and builds a trainable row from it.
    const sampler = new OnPolicySampler({ fraction: 1, source: 'student', temperature: 0, maxNewTokens: 4 }, 1, [EOS], 64, student.spec.vocabSize);
    const [own] = await sampler.sample(student, [example(ROWS[0].ids, ROWS[0].prompt)], 0, 0);
    expect(Array.from(own.ids.subarray(0, 3))).toEqual(ROWS[0].ids.slice(0, 3));
    expect(own.labels.filter((l) => l >= 0).length).toBe(own.ids.length - 3);
    step.dispose();
    teacher.dispose();
    student.dispose();
  });
});

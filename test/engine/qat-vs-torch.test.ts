import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gpu } from '../helpers/gpu.ts';
import { randn, relErr } from '../helpers/numeric.ts';
import { PYTHON, tempDir, torchModule } from '../helpers/torch-worker.ts';
import { tinyCheckpointFiles, tinySpec } from '../helpers/tiny-checkpoint.ts';
import { engineBatch, hfLabels, ROWS } from '../helpers/train-batch.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { SafetensorsFile, writeSafetensors } from '../../src/core/safetensors.ts';
import { gridFor } from '../../src/core/quant.ts';
import type { QatConfig } from '../../src/core/schema/adapters.ts';
import { fakeQuantForward } from '../../src/engine/kernels/fake_quant.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';

const files = new NodeFileSource();

const GRIDS: [string, QatConfig][] = [
  ['int4 groups of 32, asymmetric', { bits: 4, groupSize: 32, symmetric: false, perChannel: true }],
  ['int8 per channel, symmetric', { bits: 8, groupSize: 128, symmetric: true, perChannel: true }],
];

/** qat.py's fake_quantize on every tensor of a safetensors file, once per grid: q-<i>.safetensors. */
const TORCH_FAKE_QUANT = `
import os, sys, json
from retort_torch.qat import fake_quantize
from retort_torch.safetensors_io import load_file, save_file
w = load_file(sys.argv[1])
for i, cfg in enumerate(json.loads(sys.argv[2])):
    q = {k: fake_quantize(v, cfg["bits"], cfg["groupSize"], cfg["symmetric"], cfg["perChannel"]) for k, v in w.items()}
    save_file(q, os.path.join(os.path.dirname(sys.argv[1]), f"q-{i}.safetensors"))
`;

/** A tiny Qwen2 checkpoint written here (no Python start): 64 wide, MLP 96, so int4 groups of 32 fit. */
async function tinyModel(seed: number): Promise<string> {
  const dir = tempDir('qat-tiny-');
  const spec = tinySpec('qwen2', { vocabSize: 128, hidden: 64, intermediate: 96, heads: 4, kvHeads: 2, headDim: 16 });
  for (const [name, bytes] of await tinyCheckpointFiles(spec, { seed })) writeFileSync(join(dir, name), bytes);
  return dir;
}

// Each case starts Python with torch once; on a loaded 2-core machine that alone can take minutes.
describe('QAT: the engine and the torch worker train on the same grid', { timeout: 400_000 }, () => {
  it('fake_quant.wgsl and qat.py give the same weights, bit for bit', async () => {
    const rt = await gpu();
    const work = tempDir();
    const shapes: Record<string, [number, number]> = { a: [16, 128], b: [5, 256] };
    const host = Object.fromEntries(Object.entries(shapes).map(([k, s], i) => [k, randn(s[0] * s[1], 40 + i, 0.1)]));
    writeFileSync(join(work, 'w.safetensors'), writeSafetensors(Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, { dtype: 'F32', shape: s, data: host[k] }]))));
    execFileSync(PYTHON, ['-c', TORCH_FAKE_QUANT, join(work, 'w.safetensors'), JSON.stringify(GRIDS.map(([, cfg]) => cfg))], {
      env: { ...process.env, PYTHONPATH: resolve('src/runner/torch') },
    });
    for (const [g, [label, cfg]] of GRIDS.entries()) {
      const ref = SafetensorsFile.fromBytes(new Uint8Array(readFileSync(join(work, `q-${g}.safetensors`))));
      for (const [k, shape] of Object.entries(shapes)) {
        const t = rt.upload(host[k], shape, 'f32', k);
        const wq = fakeQuantForward(rt, t, gridFor(cfg, shape, k));
        const got = await rt.readF32(wq);
        const want = await ref.float32(k);
        const differ = got.reduce((n, v, i) => n + (v === want[i] ? 0 : 1), 0);
        console.log(`${label} ${k} [${shape}]: ${differ} of ${got.length} weights differ from qat.py`);
        expect(differ).toBe(0);
        t.dispose();
        wq.dispose();
      }
    }
  });

  for (const [label, qat] of GRIDS) {
    it(`${label}: one forward-KL step — loss, every gradient and updated weight ≤ 1e-4 relative`, async () => {
      const rt = await gpu();
      const teacherDir = await tinyModel(21);
      const studentDir = await tinyModel(500);
      const work = tempDir();
      const loss = { divergence: 'forward-kl', alpha: 0.6, temperature: 2.0, beta: 0.5, skew: 0.1 };
      const optimizer = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-3, weight_decay: 0.01 }; // eps: see train-vs-torch.test.ts
      writeFileSync(join(work, 'batch.json'), JSON.stringify({ input_ids: ROWS, labels: hfLabels() }));
      writeFileSync(join(work, 'config.json'), JSON.stringify({ loss, teacher: teacherDir, optimizer, max_grad_norm: 1.0, qat }));
      torchModule('reference', ['train-step', '--model', studentDir, '--batch', join(work, 'batch.json'), '--config', join(work, 'config.json'), '--out', join(work, 'out')]);
      const ref = JSON.parse(readFileSync(join(work, 'out', 'loss.json'), 'utf8')) as { total: number; soft: number; grad_norm: number };
      const refGrads = SafetensorsFile.fromBytes(new Uint8Array(readFileSync(join(work, 'out', 'grads.safetensors'))));
      const updated = SafetensorsFile.fromBytes(new Uint8Array(readFileSync(join(work, 'out', 'model.safetensors'))));

      const teacher = new Decoder(rt, await loadWeights(rt, files, teacherDir));
      const student = new Decoder(rt, await loadWeights(rt, files, studentDir));
      student.qat = qat;
      const step = new DistillStep(rt, student, teacher, [...student.weights.values()], student.spec.vocabSize, {
        beta1: 0.9, beta2: 0.999, eps: optimizer.eps, weightDecay: 0.01, maxGradNorm: 1.0,
      });
      const b = engineBatch();
      step.micro(b, { divergence: 'forward-kl', alpha: loss.alpha, temperature: loss.temperature, beta: loss.beta, lambda: loss.skew }, b.count);
      const clip = Math.min(1, 1 / (ref.grad_norm + 1e-6)); // torch saves gradients after clipping to norm 1
      let worstGrad = { name: '', rel: 0 };
      for (const [name, t] of student.weights) {
        const { rel } = relErr((await rt.readF32(t.grad!)).map((g) => g * clip), await refGrads.float32(name));
        if (rel > worstGrad.rel) worstGrad = { name, rel };
      }
      const stats = await step.apply(optimizer.lr);
      let worst = { name: '', rel: 0 };
      for (const [name, t] of student.weights) {
        const { rel } = relErr(await rt.readF32(t), await updated.float32(name));
        if (rel > worst.rel) worst = { name, rel };
      }
      console.log(`${label}: loss engine ${stats.loss.toFixed(6)} torch ${ref.total.toFixed(6)}; worst gradient ${worstGrad.name} ${worstGrad.rel.toExponential(2)}; worst updated weight ${worst.name} ${worst.rel.toExponential(2)}`);
      expect(Math.abs(stats.loss - ref.total) / Math.abs(ref.total)).toBeLessThan(1e-4);
      expect(worstGrad.rel).toBeLessThan(1e-4);
      expect(worst.rel).toBeLessThan(1e-4);
      // The grid is what the parity is about: the forward without it is far outside the tolerance.
      const hidden = async () => {
        const { hidden: h } = student.forward(b.ids, b.B, b.T);
        const v = await rt.readF32(h);
        h.dispose();
        return v;
      };
      const onGrid = await hidden();
      student.qat = null;
      const gap = relErr(onGrid, await hidden()).rel;
      console.log(`${label}: final hidden states with vs without the grid differ by ${gap.toExponential(2)} relative`);
      expect(gap).toBeGreaterThan(1e-3);
      step.dispose();
      teacher.dispose();
      student.dispose();
    });
  }
});

import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn, relErr, worst } from '../../helpers/numeric.ts';
import { fusedDistillLoss, type FusedLossArgs } from '../../../src/engine/loss/fused-lm-loss.ts';
import type { RowLossConfig } from '../../../src/engine/kernels/distill_loss.ts';
import { distillLossRowsRef } from '../../../src/engine/kernels/distill_loss.ref.ts';
import { sparseLossRowsRef } from '../../../src/engine/kernels/sparse_loss.ref.ts';
import { f32ToPacked16 } from '../../../src/engine/kernels/pack.ts';
import type { Runtime } from '../../../src/engine/runtime.ts';
import type { Tensor } from '../../../src/engine/tensor.ts';

/** x [R, K] · wᵀ with w [Cols, K] → [R, Cols] in float64. */
function linear(x: ArrayLike<number>, w: ArrayLike<number>, R: number, K: number, cols: number): Float64Array {
  const out = new Float64Array(R * cols);
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < cols; c++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[r * K + k] * w[c * K + k];
      out[r * cols + c] = s;
    }
  }
  return out;
}

interface Problem {
  N: number; C: number; V: number; Vpad: number; Ct: number; VpadT: number;
  hS: Float32Array; wS: Float32Array; hT: Float32Array; wT: Float32Array; labels: Int32Array;
}

function problem(N: number, C: number, V: number, Vpad: number, Ct: number, VpadT: number, seed: number): Problem {
  const labels = Int32Array.from({ length: N }, (_, i) => (i % 5 === 2 ? -1 : (i * 37 + 11) % V));
  return {
    N, C, V, Vpad, Ct, VpadT, labels,
    hS: randn(N * C, seed, 1), wS: randn(Vpad * C, seed + 1, 0.5),
    hT: randn(N * Ct, seed + 2, 1), wT: randn(VpadT * Ct, seed + 3, 0.5),
  };
}

/** The unchunked CPU computation: whole logits = hS·wSᵀ, the row reference, then the head's backward. */
function fusedRef(p: Problem, config: RowLossConfig, count: number, teacher: 'online' | 'none' | { k: number; ids: Int32Array; logprobs: Float32Array }, wT = p.wT) {
  const z = linear(p.hS, p.wS, p.N, p.C, p.Vpad); // [N, Vpad]
  const row = teacher === 'online'
    ? distillLossRowsRef(z, p.Vpad, linear(p.hT, wT, p.N, p.Ct, p.VpadT), p.VpadT, p.labels, p.V, count, config)
    : teacher === 'none'
      ? distillLossRowsRef(z, p.Vpad, null, 0, p.labels, p.V, count, config)
      : sparseLossRowsRef(z, p.Vpad, teacher.ids, teacher.logprobs, teacher.k, p.labels, p.V, count, config);
  const G = row.grad; // [N, Vpad]
  const dhS = new Float64Array(p.N * p.C);
  const dwS = new Float64Array(p.Vpad * p.C);
  for (let n = 0; n < p.N; n++) {
    for (let v = 0; v < p.Vpad; v++) {
      const g = G[n * p.Vpad + v];
      for (let c = 0; c < p.C; c++) {
        dhS[n * p.C + c] += g * p.wS[v * p.C + c];
        dwS[v * p.C + c] += g * p.hS[n * p.C + c];
      }
    }
  }
  return { ...row, dhS, dwS };
}

function uploadProblem(rt: Runtime, p: Problem) {
  return {
    hS: rt.upload(p.hS, [p.N, p.C], 'f32', 'hS'),
    wS: rt.upload(p.wS, [p.Vpad, p.C], 'f32', 'wS'),
    hT: rt.upload(p.hT, [p.N, p.Ct], 'f32', 'hT'),
    wT: rt.upload(p.wT, [p.VpadT, p.Ct], 'f32', 'wT'),
    labels: rt.upload(p.labels, [p.N], 'i32', 'labels'),
  };
}

async function check(rt: Runtime, label: string, out: { loss: Tensor; soft: Tensor; hard: Tensor; dhS: Tensor }, ref: ReturnType<typeof fusedRef>, dwS?: { got: Tensor; before: Float32Array }) {
  const scalars = await Promise.all([out.loss, out.soft, out.hard].map((t) => rt.readScalar(t)));
  expect(worst(`${label} loss/soft/hard`, scalars, [ref.loss, ref.soft, ref.hard])).toBeLessThan(1e-5);
  expect(worst(`${label} dhS`, await rt.readF32(out.dhS), ref.dhS)).toBeLessThan(1e-5);
  if (dwS) expect(worst(`${label} dwS`, await rt.readF32(dwS.got), ref.dwS.map((g, i) => g + dwS.before[i]))).toBeLessThan(1e-5);
  for (const t of [out.loss, out.soft, out.hard, out.dhS]) t.dispose();
}

describe('fused LM-head distillation loss, chunked over tokens (tolerance 1e-5 relative vs the unchunked CPU computation)', () => {
  // 13 tokens in chunks that do not divide them; vocab 63 padded to 70 (student) and 72 (teacher).
  const P = problem(13, 10, 63, 70, 12, 72, 100);

  for (const config of [
    { divergence: 'forward-kl', temperature: 2, alpha: 0.7 },
    { divergence: 'gjsd', temperature: 1.5, alpha: 0.5, beta: 0.4 },
  ] as RowLossConfig[]) {
    it(`online teacher, ${config.divergence}: loss, dhS and accumulated dwS for chunks of 1, 4, 13 and 64 tokens`, async () => {
      const rt = await gpu();
      const t = uploadProblem(rt, P);
      const count = 20; // the step's count, as if another micro-batch followed
      const ref = fusedRef(P, config, count, 'online');
      for (const chunkTokens of [1, 4, 13, 64]) {
        const before = randn(P.Vpad * P.C, chunkTokens);
        const dwS = rt.upload(before, [P.Vpad, P.C], 'f32', 'wS.grad');
        const out = fusedDistillLoss(rt, { ...config, ...t, labels: t.labels, logitVocab: P.V, count, chunkTokens, dwS });
        await check(rt, `online ${config.divergence} chunk=${chunkTokens}`, out, ref, { got: dwS, before });
        // padded vocabulary rows of the head get exactly nothing
        const got = await rt.readF32(dwS);
        expect(Array.from(got.subarray(P.V * P.C))).toEqual(Array.from(before.subarray(P.V * P.C)));
        dwS.dispose();
      }
      for (const x of Object.values(t)) x.dispose();
    });
  }

  it('offline sparse targets (host arrays, unused slots) match the unchunked CPU computation', async () => {
    const rt = await gpu();
    const t = uploadProblem(rt, P);
    const k = 5;
    const ids = new Int32Array(P.N * k);
    const logprobs = new Float32Array(P.N * k);
    for (let n = 0; n < P.N; n++) {
      for (let j = 0; j < k; j++) {
        ids[n * k + j] = j === k - 1 && n % 3 === 0 ? -1 : (n * 7 + j * 11) % P.V;
        logprobs[n * k + j] = -1.5 - j * 0.7;
      }
    }
    const config: RowLossConfig = { divergence: 'skew-kl', temperature: 1.3, alpha: 0.8, lambda: 0.1 };
    const counted = P.labels.filter((y) => y >= 0).length;
    const ref = fusedRef(P, config, counted, { k, ids, logprobs });
    const out = fusedDistillLoss(rt, { ...config, hS: t.hS, wS: t.wS, sparse: { k, ids, logprobs }, labels: P.labels, logitVocab: P.V, chunkTokens: 5 });
    await check(rt, 'sparse skew-kl chunk=5', out, ref); // count defaults to the unmasked host labels
    for (const x of Object.values(t)) x.dispose();
  });

  it("plain cross-entropy ('none') needs no teacher and returns per-token parts", async () => {
    const rt = await gpu();
    const t = uploadProblem(rt, P);
    const config: RowLossConfig = { divergence: 'none', temperature: 1, alpha: 0.5 };
    const ref = fusedRef(P, config, 11, 'none');
    const out = fusedDistillLoss(rt, { ...config, hS: t.hS, wS: t.wS, labels: t.labels, logitVocab: P.V, count: 11, chunkTokens: 6, perToken: true });
    expect(worst('none per-token parts', await rt.readF32(out.parts!), ref.parts)).toBeLessThan(1e-5);
    out.parts!.dispose();
    await check(rt, 'none chunk=6', out, ref);
    for (const x of Object.values(t)) x.dispose();
  });

  it('reads a bf16-packed teacher head as rounded on the host', async () => {
    const rt = await gpu();
    const t = uploadProblem(rt, P);
    const { packed, rounded } = f32ToPacked16(P.wT, 'bf16');
    const wT = rt.upload(packed, [P.VpadT, P.Ct], 'bf16', 'wT.bf16');
    const config: RowLossConfig = { divergence: 'reverse-kl', temperature: 1, alpha: 0.9 };
    const ref = fusedRef(P, config, 11, 'online', rounded);
    const out = fusedDistillLoss(rt, { ...config, hS: t.hS, wS: t.wS, hT: t.hT, wT, labels: t.labels, logitVocab: P.V, count: 11, chunkTokens: 8 });
    await check(rt, 'bf16 teacher head', out, ref);
    for (const x of [...Object.values(t), wT]) x.dispose();
  });

  it('names the tensor or field in errors', async () => {
    const rt = await gpu();
    const t = uploadProblem(rt, P);
    const base: FusedLossArgs = {
      divergence: 'forward-kl', temperature: 1, alpha: 0.5,
      hS: t.hS, wS: t.wS, hT: t.hT, wT: t.wT, labels: t.labels, logitVocab: P.V, count: 11, chunkTokens: 4,
    };
    const fn = (over: Partial<FusedLossArgs>) => () => fusedDistillLoss(rt, { ...base, ...over });
    expect(fn({ hT: undefined, wT: undefined })).toThrow("fusedDistillLoss: divergence 'forward-kl' needs the teacher");
    expect(fn({ wT: undefined })).toThrow('online distillation needs both teacher hidden states hT and head wT');
    expect(fn({ sparse: { k: 1, ids: new Int32Array(13), logprobs: new Float32Array(13) } })).toThrow('either teacher hidden states (hT, wT) or sparse targets');
    expect(fn({ logitVocab: 71 })).toThrow('logitVocab 71 must be in [1, 70] (student head wS[70,10]:f32)');
    expect(fn({ count: undefined })).toThrow('count is required with GPU labels');
    expect(fn({ labels: Int32Array.from({ length: 13 }, (_, i) => (i === 4 ? 63 : 0)) })).toThrow('labels[4] = 63 is outside [0, 63)');
    expect(fn({ labels: new Int32Array(12) })).toThrow('labels have 12 values, expected [N] = 13');
    expect(fn({ chunkTokens: 0 })).toThrow('chunkTokens 0 must be a positive whole number');
    expect(fn({ hT: t.wT })).toThrow('teacher hidden hT wT[72,12]:f32 should be [13, cols]');
    expect(fn({ dwS: t.hS })).toThrow('dwS hS[13,10]:f32 should be [70, 10] of f32');
    expect(fn({ temperature: -1 })).toThrow('fusedDistillLoss: temperature -1 must be a positive number');
    for (const x of Object.values(t)) x.dispose();
  });
});

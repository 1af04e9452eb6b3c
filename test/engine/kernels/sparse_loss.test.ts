import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, rng, worst } from '../../helpers/numeric.ts';
import { distillLossRows, distillLossTotals, type RowLossConfig } from '../../../src/engine/kernels/distill_loss.ts';
import { sparseLossRows, uploadSparseTargets } from '../../../src/engine/kernels/sparse_loss.ts';
import { sparseLossRowsRef } from '../../../src/engine/kernels/sparse_loss.ref.ts';
import { distillLossRowsRef } from '../../../src/engine/kernels/distill_loss.ref.ts';
import { sparseDistillLoss } from '../../../src/core/losses/sparse.ts';

/**
 * Top-k targets as a teacher would send them: the k most likely ids of random teacher logits with
 * their log-probabilities at T = 1, the last `unused` slots of every token set to −1.
 */
function topK(N: number, V: number, k: number, seed: number, unused = 0, sharp = 2): { ids: Int32Array; logprobs: Float32Array } {
  const zt = randn(N * V, seed, sharp);
  const ids = new Int32Array(N * k);
  const logprobs = new Float32Array(N * k);
  for (let n = 0; n < N; n++) {
    const row = Array.from(zt.subarray(n * V, (n + 1) * V));
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    const order = row.map((x, v) => [x, v] as const).sort((a, b) => b[0] - a[0]);
    for (let j = 0; j < k; j++) {
      const used = j < k - unused;
      ids[n * k + j] = used ? order[j][1] : -1;
      logprobs[n * k + j] = used ? order[j][0] - lse : 0;
    }
  }
  // shuffle slot order so listed ids are not sorted by mass
  const r = rng(seed + 1);
  for (let n = 0; n < N; n++) {
    for (let j = k - 1; j > 0; j--) {
      const i = Math.floor(r() * (j + 1));
      for (const a of [ids, logprobs] as const) [a[n * k + i], a[n * k + j]] = [a[n * k + j], a[n * k + i]];
    }
  }
  return { ids, logprobs };
}

const CONFIGS: RowLossConfig[] = [
  { divergence: 'forward-kl', temperature: 2, alpha: 0.7 },
  { divergence: 'reverse-kl', temperature: 0.7, alpha: 0.5 },
  { divergence: 'gjsd', temperature: 1.5, alpha: 0.8, beta: 0.3 },
  { divergence: 'skew-kl', temperature: 1, alpha: 0.9, lambda: 0.1 },
  { divergence: 'skew-reverse-kl', temperature: 2, alpha: 0.6, lambda: 0.2 },
  { divergence: 'tvd', temperature: 1.2, alpha: 0.5 },
];

const tag = (c: RowLossConfig) =>
  `${c.divergence} T=${c.temperature} α=${c.alpha}${c.beta !== undefined ? ` β=${c.beta}` : ''}${c.lambda !== undefined ? ` λ=${c.lambda}` : ''}`;

describe('sparse-target loss rows (tolerance 2e-5 relative; reference vs finite differences 1e-7)', () => {
  it('the CPU reference gradient matches finite differences of its loss, unused slots and a masked row included', () => {
    const [R, V, S, k] = [3, 7, 9, 3];
    const { ids, logprobs } = topK(R, V, k, 5, 1);
    const labels = [4, -1, 0];
    for (const c of [...CONFIGS, { divergence: 'gjsd', temperature: 1, alpha: 0.5, beta: 1 } as RowLossConfig]) {
      const zs = Float64Array.from(randn(R * S, 6, 1.5));
      const ref = sparseLossRowsRef(zs, S, ids, logprobs, k, labels, V, 2, c);
      const fd = finiteDiff((x) => sparseLossRowsRef(x, S, ids, logprobs, k, labels, V, 2, c).loss, zs);
      expect(worst(`ref vs finite differences ${tag(c)}`, ref.grad, fd)).toBeLessThan(1e-7);
    }
  });

  it('the CPU reference agrees with the core reference (src/core/losses), and with k = V it is the dense loss', () => {
    const [R, V] = [3, 8];
    const labels = [2, 7, 0];
    const zs = Float64Array.from(randn(R * V, 8, 2));
    for (const k of [3, V]) {
      const { ids, logprobs } = topK(R, V, k, 9);
      for (const c of CONFIGS) {
        const mine = sparseLossRowsRef(zs, V, ids, logprobs, k, labels, V, R, c);
        const core = sparseDistillLoss({ tokens: R, vocab: V, student: zs, targets: { k, ids, logprobs }, labels }, c);
        expect(worst(`ref vs core grad k=${k} ${tag(c)}`, mine.grad, core.grad)).toBeLessThan(1e-12);
        expect(Math.abs(mine.loss - core.loss)).toBeLessThan(1e-12);
      }
    }
  });

  const SHAPES = [
    { R: 4, V: 300, S: 307, k: 20, unused: 3 },
    { R: 2, V: 700, S: 700, k: 300, unused: 0 },
  ];
  for (const c of CONFIGS) {
    it(`${tag(c)}: parts, totals and in-place gradient match the reference`, async () => {
      const rt = await gpu();
      for (const { R, V, S, k, unused } of SHAPES) {
        const zs = randn(R * S, R + V, 2);
        const host = { k, ...topK(R, V, k, V + k, unused) };
        const labels = Int32Array.from({ length: R }, (_, i) => (i === 1 ? -1 : i === 2 ? host.ids[2 * k] : (i * 31 + 3) % V));
        const count = 5;
        const ref = sparseLossRowsRef(zs, S, host.ids, host.logprobs, k, labels, V, count, c);
        const ts = rt.upload(zs, [R, S], 'f32', 'student');
        const targets = uploadSparseTargets(rt, host, R, V);
        const tl = rt.upload(labels, [R], 'i32', 'labels');
        const parts = rt.zeros([R, 2], 'f32', 'parts');
        sparseLossRows(rt, { student: ts, targets, labels: tl, parts, rowOffset: 0, vocab: V, count, config: c });
        const totals = distillLossTotals(rt, parts, c, count);
        const shape = `[${R}, ${V}/${S}] k=${k}`;
        expect(worst(`grad ${tag(c)} ${shape}`, await rt.readF32(ts), ref.grad)).toBeLessThan(2e-5);
        expect(worst(`parts ${tag(c)} ${shape}`, await rt.readF32(parts), ref.parts)).toBeLessThan(2e-5);
        const got = await Promise.all([totals.loss, totals.soft, totals.hard].map((t) => rt.readScalar(t)));
        expect(worst(`totals ${tag(c)} ${shape}`, got, [ref.loss, ref.soft, ref.hard])).toBeLessThan(2e-5);
        for (const t of [ts, targets.ids, targets.logprobs, tl, parts, totals.loss, totals.soft, totals.hard]) t.dispose();
      }
    });
  }

  it('with k = V the sparse kernel gives the dense kernel’s loss and gradient', async () => {
    const rt = await gpu();
    const [R, V] = [3, 50];
    const zs = randn(R * V, 71, 2);
    const host = { k: V, ...topK(R, V, V, 72) };
    // the teacher logits the targets came from (their log-softmax equals the logprobs)
    const zt = new Float32Array(R * V);
    for (let n = 0; n < R; n++) for (let j = 0; j < V; j++) zt[n * V + host.ids[n * V + j]] = host.logprobs[n * V + j];
    const labels = Int32Array.from([5, 17, 49]);
    for (const c of [CONFIGS[0], CONFIGS[1], CONFIGS[5]]) {
      const sparse = rt.upload(zs, [R, V]);
      const dense = rt.upload(zs, [R, V]);
      const teacher = rt.upload(zt, [R, V]);
      const targets = uploadSparseTargets(rt, host, R, V);
      const tl = rt.upload(labels, [R], 'i32');
      const p1 = rt.zeros([R, 2]);
      const p2 = rt.zeros([R, 2]);
      sparseLossRows(rt, { student: sparse, targets, labels: tl, parts: p1, rowOffset: 0, vocab: V, count: R, config: c });
      distillLossRows(rt, { student: dense, teacher, labels: tl, parts: p2, rowOffset: 0, vocab: V, count: R, config: c });
      expect(worst(`k = V sparse vs dense grad ${tag(c)}`, await rt.readF32(sparse), await rt.readF32(dense))).toBeLessThan(1e-5);
      expect(worst(`k = V sparse vs dense parts ${tag(c)}`, await rt.readF32(p1), await rt.readF32(p2))).toBeLessThan(1e-5);
      const dref = distillLossRowsRef(zs, V, zt, V, labels, V, R, c);
      expect(worst(`k = V sparse vs dense reference ${tag(c)}`, await rt.readF32(sparse), dref.grad)).toBeLessThan(1e-5);
      for (const t of [sparse, dense, teacher, targets.ids, targets.logprobs, tl, p1, p2]) t.dispose();
    }
  });

  it('keeps the tail exact when the listed ids hold nearly all the student mass', async () => {
    const rt = await gpu();
    const [R, V, k] = [1, 400, 4];
    const zs = randn(R * V, 81, 1);
    const host = { k, ...topK(R, V, k, 82, 0, 0.5) }; // a flat teacher: its tail holds most of its mass
    for (let j = 0; j < k; j++) zs[host.ids[j]] = 18; // student p_tail ≈ 400·e^−18 / 4 ≈ 1.5e-6
    // forward KL's tail term q_tail·log(q_tail / p_tail) is as exact as log p_tail
    const c: RowLossConfig = { divergence: 'forward-kl', temperature: 1, alpha: 1 };
    const ref = sparseLossRowsRef(zs, V, host.ids, host.logprobs, k, [0], V, 1, c);
    // what p_tail = 1 − Σp_j in f32 would give: the test must be able to tell
    const lse = Math.log(zs.reduce((s, z) => s + Math.exp(z), 0));
    let naive = 1;
    for (let j = 0; j < k; j++) naive = Math.fround(naive - Math.fround(Math.exp(zs[host.ids[j]] - lse)));
    const exactTail = 1 - Array.from({ length: k }, (_, j) => Math.exp(zs[host.ids[j]] - lse)).reduce((a, b) => a + b);
    const qTail = 1 - Array.from(host.logprobs, Math.exp).reduce((a, b) => a + b);
    const naiveErr = Math.abs(qTail * Math.log(exactTail / naive)) / ref.parts[0];
    console.log(`p_tail ${exactTail.toExponential(3)}; 1 − Σp in f32 gives ${naive.toExponential(3)}, a soft-part error of ${naiveErr.toExponential(2)}`);
    expect(naiveErr).toBeGreaterThan(1e-3);
    const ts = rt.upload(zs, [R, V]);
    const targets = uploadSparseTargets(rt, host, R, V);
    const tl = rt.upload(Int32Array.from([0]), [R], 'i32');
    const parts = rt.zeros([R, 2]);
    sparseLossRows(rt, { student: ts, targets, labels: tl, parts, rowOffset: 0, vocab: V, count: 1, config: c });
    expect(worst('near-full top-k: grad', await rt.readF32(ts), ref.grad)).toBeLessThan(2e-5);
    expect(worst('near-full top-k: parts', await rt.readF32(parts), ref.parts)).toBeLessThan(2e-5);
    for (const t of [ts, targets.ids, targets.logprobs, tl, parts]) t.dispose();
  });

  it('names the tensor, token and slot in errors', async () => {
    const rt = await gpu();
    const ok = { k: 2, ids: Int32Array.from([0, 1, 2, 3]), logprobs: new Float32Array([-1, -2, -1, -2]) };
    expect(() => uploadSparseTargets(rt, { ...ok, ids: Int32Array.from([0, 1, 2, 9]) }, 2, 9)).toThrow('teacher ids [1, 1] = 9 is outside [0, 9)');
    expect(() => uploadSparseTargets(rt, { ...ok, ids: Int32Array.from([0, 1, 3, 3]) }, 2, 9)).toThrow('token 1 lists id 3 twice');
    expect(() => uploadSparseTargets(rt, { ...ok, logprobs: new Float32Array([-1, NaN, -1, -2]) }, 2, 9)).toThrow('teacher logprobs [0, 1] = NaN');
    expect(() => uploadSparseTargets(rt, ok, 3, 9)).toThrow('teacher ids have 4 values, expected [tokens, k] = [3, 2]');
    const targets = uploadSparseTargets(rt, ok, 2, 9);
    const ts = rt.zeros([3, 9], 'f32', 'logits');
    const tl = rt.zeros([3], 'i32', 'labels');
    const parts = rt.zeros([3, 2], 'f32', 'parts');
    const c: RowLossConfig = { divergence: 'tvd', temperature: 1, alpha: 0.5 };
    expect(() => sparseLossRows(rt, { student: ts, targets, labels: tl, parts, rowOffset: 0, vocab: 9, count: 3, config: c }))
      .toThrow('sparseLossRows: teacher ids teacher_ids[2,2]:i32 must be an i32 [3, k]');
    for (const t of [targets.ids, targets.logprobs, ts, tl, parts]) t.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, worst } from '../../helpers/numeric.ts';
import { distillLossRows, distillLossTotals, type RowLossConfig } from '../../../src/engine/kernels/distill_loss.ts';
import { distillLossRowsRef } from '../../../src/engine/kernels/distill_loss.ref.ts';
import { denseDistillLoss } from '../../../src/core/losses/dense.ts';

/** Central differences of f at x (float64), h relative to nothing: logits are O(1). */
const CONFIGS: RowLossConfig[] = [
  { divergence: 'forward-kl', temperature: 2, alpha: 0.7 },
  { divergence: 'forward-kl', temperature: 1, alpha: 1 },
  { divergence: 'reverse-kl', temperature: 0.7, alpha: 0.5 },
  { divergence: 'gjsd', temperature: 1.5, alpha: 0.8, beta: 0.5 },
  { divergence: 'gjsd', temperature: 1, alpha: 0.6, beta: 0.1 },
  { divergence: 'skew-kl', temperature: 2, alpha: 0.9, lambda: 0.1 },
  { divergence: 'skew-kl', temperature: 1, alpha: 0.5, lambda: 0.5 },
  { divergence: 'skew-reverse-kl', temperature: 1.3, alpha: 0.9, lambda: 0.1 },
  { divergence: 'tvd', temperature: 1, alpha: 0.5 },
  { divergence: 'tvd', temperature: 3, alpha: 0.25 },
  { divergence: 'none', temperature: 1, alpha: 0.5 },
];

const tag = (c: RowLossConfig) =>
  `${c.divergence} T=${c.temperature} α=${c.alpha}${c.beta !== undefined ? ` β=${c.beta}` : ''}${c.lambda !== undefined ? ` λ=${c.lambda}` : ''}`;

describe('distill loss rows (tolerance 1e-5 relative; reference vs finite differences 1e-7)', () => {
  it('the CPU reference gradient matches finite differences of its loss, for every divergence', () => {
    // 3 tokens (one masked), vocab 6 in rows of stride 8: padding must not leak into loss or gradient.
    const [R, V, S] = [3, 6, 8];
    const labels = [2, -1, 5];
    const count = 2;
    const zt = Float64Array.from(randn(R * S, 11, 1.5));
    for (const c of CONFIGS) {
      const zs = Float64Array.from(randn(R * S, 12, 1.5));
      const ref = distillLossRowsRef(zs, S, zt, S, labels, V, count, c);
      const fd = finiteDiff((x) => distillLossRowsRef(x, S, zt, S, labels, V, count, c).loss, zs);
      expect(worst(`ref vs finite differences ${tag(c)}`, ref.grad, fd)).toBeLessThan(1e-7);
    }
  });

  it('the CPU reference agrees with the core reference (src/core/losses)', () => {
    const [R, V] = [4, 9];
    const labels = [1, 8, 0, 3];
    const zs = Float64Array.from(randn(R * V, 21, 2));
    const zt = Float64Array.from(randn(R * V, 22, 2));
    for (const c of CONFIGS) {
      const mine = distillLossRowsRef(zs, V, zt, V, labels, V, R, c);
      const core = denseDistillLoss({ tokens: R, vocab: V, student: zs, teacher: zt, labels }, c);
      expect(worst(`ref vs core grad ${tag(c)}`, mine.grad, core.grad)).toBeLessThan(1e-12);
      expect(Math.abs(mine.loss - core.loss)).toBeLessThan(1e-12);
      if (c.divergence !== 'none') expect(Math.abs(mine.soft - core.soft)).toBeLessThan(1e-12);
      expect(Math.abs(mine.hard - core.hard)).toBeLessThan(1e-12);
    }
  });

  // Rows padded past the vocabulary on both sides; not multiples of the 256-thread workgroup.
  const SHAPES = [
    { R: 5, V: 300, S: 307, St: 301 },
    { R: 2, V: 1000, S: 1000, St: 1024 },
  ];
  for (const c of CONFIGS) {
    it(`${tag(c)}: parts, totals and in-place gradient match the reference`, async () => {
      const rt = await gpu();
      for (const { R, V, S, St } of SHAPES) {
        const zs = randn(R * S, R + V, 2);
        const zt = randn(R * St, 3 * R + V, 2);
        const labels = Int32Array.from({ length: R }, (_, i) => (i === 1 ? -1 : (i * 97 + 5) % V));
        const count = 7; // the batch's count, more than this chunk holds
        const ref = distillLossRowsRef(zs, S, zt, St, labels, V, count, c);
        const ts = rt.upload(zs, [R, S], 'f32', 'student');
        const tt = rt.upload(zt, [R, St], 'f32', 'teacher');
        const tl = rt.upload(labels, [R], 'i32', 'labels');
        const parts = rt.zeros([R, 2], 'f32', 'parts');
        distillLossRows(rt, { student: ts, teacher: tt, labels: tl, parts, rowOffset: 0, vocab: V, count, config: c });
        const totals = distillLossTotals(rt, parts, c, count);
        const shape = `[${R}, ${V}/${S}]`;
        expect(worst(`grad ${tag(c)} ${shape}`, await rt.readF32(ts), ref.grad)).toBeLessThan(1e-5);
        expect(worst(`parts ${tag(c)} ${shape}`, await rt.readF32(parts), ref.parts)).toBeLessThan(1e-5);
        const got = await Promise.all([totals.loss, totals.soft, totals.hard].map((t) => rt.readScalar(t)));
        expect(worst(`totals ${tag(c)} ${shape}`, got, [ref.loss, ref.soft, ref.hard])).toBeLessThan(1e-5);
        for (const t of [ts, tt, tl, parts, totals.loss, totals.soft, totals.hard]) t.dispose();
      }
    });
  }

  it('writes rows at an offset into the batch parts and reads their labels there', async () => {
    const rt = await gpu();
    const [N, R, V, off] = [6, 2, 40, 3];
    const c: RowLossConfig = { divergence: 'reverse-kl', temperature: 1.5, alpha: 0.5 };
    const labels = Int32Array.from([1, 2, 3, 4, 5, 6]);
    const zs = randn(R * V, 31);
    const zt = randn(R * V, 32);
    const ref = distillLossRowsRef(zs, V, zt, V, labels.subarray(off, off + R), V, N, c);
    const ts = rt.upload(zs, [R, V]);
    const tt = rt.upload(zt, [R, V]);
    const tl = rt.upload(labels, [N], 'i32');
    const parts = rt.upload(new Float32Array(2 * N).fill(-9), [N, 2]);
    distillLossRows(rt, { student: ts, teacher: tt, labels: tl, parts, rowOffset: off, vocab: V, count: N, config: c });
    const got = await rt.readF32(parts);
    expect(Array.from(got.subarray(0, 2 * off))).toEqual(new Array(2 * off).fill(-9));
    expect(Array.from(got.subarray(2 * (off + R)))).toEqual(new Array(2 * (N - off - R)).fill(-9));
    expect(worst('parts at offset', got.subarray(2 * off, 2 * (off + R)), ref.parts)).toBeLessThan(1e-5);
    expect(worst('grad at offset', await rt.readF32(ts), ref.grad)).toBeLessThan(1e-5);
    for (const t of [ts, tt, tl, parts]) t.dispose();
  });

  it('count 0 gives a zero loss and gradient; a label past the vocabulary shows as f32 max', async () => {
    const rt = await gpu();
    const [R, V] = [2, 20];
    const c: RowLossConfig = { divergence: 'forward-kl', temperature: 1, alpha: 0.5 };
    const ts = rt.upload(randn(R * V, 41), [R, V]);
    const tt = rt.upload(randn(R * V, 42), [R, V]);
    const tl = rt.upload(Int32Array.from([3, 4]), [R], 'i32');
    const parts = rt.zeros([R, 2]);
    distillLossRows(rt, { student: ts, teacher: tt, labels: tl, parts, rowOffset: 0, vocab: V, count: 0, config: c });
    const totals = distillLossTotals(rt, parts, c, 0);
    expect(Math.max(...(await rt.readF32(ts)).map(Math.abs))).toBe(0);
    expect(await rt.readScalar(totals.loss)).toBe(0);
    const bad = rt.upload(Int32Array.from([3, V]), [R], 'i32');
    distillLossRows(rt, { student: ts, teacher: tt, labels: bad, parts, rowOffset: 0, vocab: V, count: 2, config: c });
    const p = await rt.readF32(parts);
    expect(p[3]).toBeGreaterThan(3e38);
    for (const t of [ts, tt, tl, parts, bad, totals.loss, totals.soft, totals.hard]) t.dispose();
  });

  it('names the tensor, field or row range in errors', async () => {
    const rt = await gpu();
    const ts = rt.zeros([3, 8], 'f32', 'logits');
    const tt = rt.zeros([2, 8], 'f32', 'tlogits');
    const tl = rt.zeros([3], 'i32', 'labels');
    const parts = rt.zeros([3, 2], 'f32', 'parts');
    const base = { student: ts, teacher: tt, labels: tl, parts, rowOffset: 0, vocab: 8, count: 3 };
    const fkl: RowLossConfig = { divergence: 'forward-kl', temperature: 1, alpha: 0.5 };
    expect(() => distillLossRows(rt, { ...base, config: { ...fkl, temperature: 0 } })).toThrow('distillLossRows: temperature 0 must be a positive number');
    expect(() => distillLossRows(rt, { ...base, config: { ...fkl, alpha: 1.5 } })).toThrow('distillLossRows: alpha 1.5 must be in [0, 1]');
    expect(() => distillLossRows(rt, { ...base, config: { ...fkl, divergence: 'gjsd', beta: -1 } })).toThrow('distillLossRows: beta -1 must be in [0, 1]');
    expect(() => distillLossRows(rt, { ...base, config: fkl })).toThrow('teacher logits tlogits[2,8]:f32 should have 3 rows');
    expect(() => distillLossRows(rt, { ...base, teacher: null, config: fkl })).toThrow("divergence 'forward-kl' needs teacher logits");
    expect(() => distillLossRows(rt, { ...base, vocab: 9, config: { ...fkl, divergence: 'none' } })).toThrow('vocab 9 must be in [1, 8]');
    expect(() => distillLossRows(rt, { ...base, rowOffset: 1, config: { ...fkl, divergence: 'none' } })).toThrow('rows 1..3 are outside labels');
    expect(() => distillLossRows(rt, { ...base, count: 1.5, config: { ...fkl, divergence: 'none' } })).toThrow('count 1.5 must be a whole number');
    for (const t of [ts, tt, tl, parts]) t.dispose();
  });
});

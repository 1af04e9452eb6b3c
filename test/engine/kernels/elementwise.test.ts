import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn, relErr, worst } from '../../helpers/numeric.ts';
import {
  add, addBias, addInPlace, biasGrad, cast, columnSum, fill, flatGrid, mul, rowGrid, scale, sumSquares, unpack,
} from '../../../src/engine/kernels/elementwise.ts';
import { addBiasRef, addRef, columnSumRef, mulRef, scaleRef, sumSquaresRef } from '../../../src/engine/kernels/elementwise.ref.ts';
import { f32ToPacked16 } from '../../../src/engine/kernels/pack.ts';

// Sizes deliberately not multiples of the 256-thread workgroup or the 64-row column chunk.
const SHAPES: number[][] = [[1], [7, 33], [3, 5, 70], [1031]];

describe('elementwise maps (tolerance 1e-6 relative)', () => {
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    it(`add, mul, scale, addInPlace on [${shape}]`, async () => {
      const rt = await gpu();
      const a = randn(n, n + 1);
      const b = randn(n, n + 2);
      const ta = rt.upload(a, shape);
      const tb = rt.upload(b, shape);
      const sum = add(rt, ta, tb);
      const prod = mul(rt, ta, tb);
      const scaled = scale(rt, ta, -0.37);
      expect(sum.shape).toEqual(shape);
      expect(worst(`add [${shape}]`, await rt.readF32(sum), addRef(a, b))).toBeLessThan(1e-6);
      expect(worst(`mul [${shape}]`, await rt.readF32(prod), mulRef(a, b))).toBeLessThan(1e-6);
      expect(worst(`scale [${shape}]`, await rt.readF32(scaled), scaleRef(a, -0.37))).toBeLessThan(1e-6);
      addInPlace(rt, ta, tb, 0.5);
      expect(worst(`addInPlace [${shape}]`, await rt.readF32(ta), addRef(a, b, 0.5))).toBeLessThan(1e-6);
      for (const t of [ta, tb, sum, prod, scaled]) t.dispose();
    });
  }

  it('addBias adds a row vector in place; fill sets every element', async () => {
    const rt = await gpu();
    const [N, C] = [7, 33];
    const x = randn(N * C, 11);
    const bias = randn(C, 12);
    const tx = rt.upload(x, [N, C]);
    const tb = rt.upload(bias, [C]);
    expect(addBias(rt, tx, tb)).toBe(tx);
    expect(worst('addBias', await rt.readF32(tx), addBiasRef(x, bias))).toBeLessThan(1e-6);
    fill(rt, tx, 2.5);
    expect(Array.from(await rt.readF32(tx)).every((v) => v === 2.5)).toBe(true);
    tx.dispose();
    tb.dispose();
  });

  for (const dtype of ['f16', 'bf16'] as const) {
    it(`unpacks ${dtype} (odd length) exactly as rounded on the host`, async () => {
      const rt = await gpu();
      const values = randn(7 * 33, 21, 3);
      const { packed, rounded } = f32ToPacked16(values, dtype);
      const t = rt.upload(packed, [7, 33], dtype);
      const out = cast(rt, t, 'f32');
      expect(out.dtype).toBe('f32');
      expect(out.shape).toEqual([7, 33]);
      const got = await rt.readF32(out);
      expect(worst(`unpack ${dtype}`, got, rounded)).toBe(0);
      t.dispose();
      out.dispose();
    });
  }
});

describe('column sum and sum of squares (tolerance 1e-5 relative, f32 accumulation)', () => {
  for (const [R, C] of [[7, 33], [300, 33], [65, 257], [1, 5]]) {
    it(`biasGrad over [${R}, ${C}], then accumulated`, async () => {
      const rt = await gpu();
      const dy = randn(R * C, R * 31 + C);
      const t = rt.upload(dy, [R, C]);
      const db = biasGrad(rt, t);
      const ref = columnSumRef(dy, C);
      expect(worst(`biasGrad [${R},${C}]`, await rt.readF32(db), ref)).toBeLessThan(1e-5);
      columnSum(rt, t, db, true);
      expect(worst(`biasGrad accumulate [${R},${C}]`, await rt.readF32(db), ref.map((v) => 2 * v))).toBeLessThan(1e-5);
      t.dispose();
      db.dispose();
    });
  }

  for (const n of [1, 5000, 300_001]) {
    it(`sumSquares over ${n} elements, then accumulated`, async () => {
      const rt = await gpu();
      const x = randn(n, n);
      const t = rt.upload(x, [n]);
      const s = sumSquares(rt, t);
      const ref = sumSquaresRef(x);
      expect(worst(`sumSquares ${n}`, await rt.readF32(s), [ref])).toBeLessThan(1e-5);
      sumSquares(rt, t, s, true);
      expect(worst(`sumSquares accumulate ${n}`, await rt.readF32(s), [2 * ref])).toBeLessThan(1e-5);
      t.dispose();
      s.dispose();
    });
  }
});

describe('elementwise grids and errors', () => {
  it('spreads big launches over a 2-D grid', () => {
    expect(flatGrid(0, 'x')).toEqual([0, 0]);
    expect(flatGrid(257, 'x')).toEqual([2, 1]);
    expect(flatGrid(65535 * 256 * 3 + 5, 'x')).toEqual([65535, 4]);
    expect(rowGrid(70000, 'x')).toEqual([65535, 2]);
    expect(() => flatGrid(65535 * 65535 * 256 + 1, 'huge')).toThrow(/huge: .* exceed/);
  });

  it('names the op and the tensors in shape, dtype and aliasing errors', async () => {
    const rt = await gpu();
    const a = rt.zeros([3, 4], 'f32', 'a');
    const b = rt.zeros([5], 'f32', 'b');
    const ids = rt.zeros([12], 'i32', 'ids');
    expect(() => add(rt, a, b)).toThrow('add: a[3,4]:f32 and b[5]:f32 differ in size');
    expect(() => addInPlace(rt, a, a.reshape([12]))).toThrow('addInPlace: a[3,4]:f32 is both the output and an input');
    expect(() => addBias(rt, a, b)).toThrow('addBias: bias b[5]:f32 should have 4 elements for a[3,4]:f32');
    expect(() => mul(rt, a, ids.reshape([3, 4]))).toThrow('mul: ids[3,4]:i32 must be f32');
    expect(() => cast(rt, a, 'bf16')).toThrow('cast: a[3,4]:f32 → bf16 is not supported');
    expect(() => biasGrad(rt, a, b)).toThrow('columnSum: out b[5]:f32 should have 4 elements for a[3,4]:f32');
    for (const t of [a, b, ids]) t.dispose();
  });
});

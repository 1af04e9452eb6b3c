import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randInt, randn, relErr, worst } from '../../helpers/numeric.ts';
import { checkIds, embeddingBackward, embeddingForward, groupIds } from '../../../src/engine/kernels/embedding.ts';
import { embeddingBackwardRef, embeddingForwardRef } from '../../../src/engine/kernels/embedding.ref.ts';
import { f32ToPacked16 } from '../../../src/engine/kernels/pack.ts';

/** Central differences of f at x (float64), one coordinate at a time. */
function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-4): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + h;
    const up = f(x);
    x[i] = x0 - h;
    const down = f(x);
    x[i] = x0;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

describe('embedding forward (exact gather)', () => {
  for (const [N, V, C] of [[7, 50, 33], [1, 3, 1], [300, 17, 70]]) {
    it(`ids [${N}] from table [${V}, ${C}]`, async () => {
      const rt = await gpu();
      const ids = randInt(N, V, N + V);
      const table = randn(V * C, C);
      const tIds = rt.upload(ids, [N]);
      const tTable = rt.upload(table, [V, C]);
      const out = embeddingForward(rt, tIds, tTable);
      expect(out.shape).toEqual([N, C]);
      expect(worst(`embedding [${N}]×[${V},${C}]`, await rt.readF32(out), embeddingForwardRef(ids, table, V, C))).toBe(0);
      for (const t of [tIds, tTable, out]) t.dispose();
    });
  }

  for (const dtype of ['f16', 'bf16'] as const) {
    it(`reads a ${dtype}-packed table with odd rows; keeps the ids' shape; zero rows for bad ids`, async () => {
      const rt = await gpu();
      const [V, C] = [13, 33];
      const ids = Int32Array.from([0, 12, 5, 5, 1, 7, -1, 13, 4, 11]);
      const { packed, rounded } = f32ToPacked16(randn(V * C, 9), dtype);
      const tIds = rt.upload(ids, [2, 5]);
      const tTable = rt.upload(packed, [V, C], dtype);
      const out = embeddingForward(rt, tIds, tTable);
      expect(out.shape).toEqual([2, 5, C]);
      const got = await rt.readF32(out);
      expect(worst(`embedding ${dtype}`, got, embeddingForwardRef(ids, rounded, V, C))).toBe(0);
      expect(got.subarray(6 * C, 8 * C).every((v) => v === 0)).toBe(true);
      for (const t of [tIds, tTable, out]) t.dispose();
    });
  }
});

describe('embedding backward (tolerance 1e-6 relative)', () => {
  it('groupIds builds the CSR grouping by id', () => {
    const g = groupIds(Int32Array.from([3, 1, 3, 0, 1, 3]));
    expect(Array.from(g.unique)).toEqual([0, 1, 3]);
    expect(Array.from(g.offsets)).toEqual([0, 1, 3, 6]);
    expect(Array.from(g.positions)).toEqual([3, 1, 4, 0, 2, 5]);
    expect(groupIds(new Int32Array(0)).offsets).toEqual(Int32Array.from([0]));
  });

  it('the CPU backward matches finite differences of the CPU forward', () => {
    const [N, V, C] = [9, 5, 3];
    const ids = randInt(N, V, 3);
    const dy = Float64Array.from(randn(N * C, 4));
    const loss = (table: Float64Array) => embeddingForwardRef(ids, table, V, C).reduce((s, y, i) => s + y * dy[i], 0);
    const fd = finiteDiff(loss, Float64Array.from(randn(V * C, 5)));
    expect(worst('embedding ref vs finite differences', embeddingBackwardRef(ids, dy, V, C), fd)).toBeLessThan(1e-8);
  });

  for (const [N, V, C] of [[7, 11, 33], [37, 10, 33], [300, 400, 5]]) {
    it(`dy [${N}, ${C}] into table [${V}, ${C}], written then accumulated`, async () => {
      const rt = await gpu();
      const ids = randInt(N, V, N * 3 + V); // repeats, and ids absent from the batch
      const dy = randn(N * C, N + C);
      const init = randn(V * C, 77);
      const tDy = rt.upload(dy, [N, C]);
      const groups = groupIds(ids);
      const fresh = embeddingBackward(rt, tDy, groups, [V, C]);
      expect(fresh.shape).toEqual([V, C]);
      expect(worst(`embedding backward [${N}]→[${V},${C}]`, await rt.readF32(fresh), embeddingBackwardRef(ids, dy, V, C))).toBeLessThan(1e-6);
      const acc = rt.upload(init, [V, C]);
      embeddingBackward(rt, tDy, groups, [V, C], acc, true);
      expect(worst(`embedding backward accumulate`, await rt.readF32(acc), embeddingBackwardRef(ids, dy, V, C, init))).toBeLessThan(1e-6);
      embeddingBackward(rt, tDy, groups, [V, C], acc, false); // overwrite: stale rows must be cleared
      expect(worst(`embedding backward overwrite`, await rt.readF32(acc), embeddingBackwardRef(ids, dy, V, C))).toBeLessThan(1e-6);
      for (const t of [tDy, fresh, acc]) t.dispose();
    });
  }

  it('names the tensor, id and position in errors', async () => {
    const rt = await gpu();
    const ids = rt.upload(Int32Array.from([1, 2]), [2], 'i32', 'ids');
    const idsF = rt.zeros([2], 'f32', 'idsF');
    const table = rt.zeros([4, 3], 'f32', 'table');
    const dy = rt.zeros([2, 3], 'f32', 'dy');
    expect(() => embeddingForward(rt, idsF, table)).toThrow('embeddingForward: ids idsF[2]:f32 must be i32');
    expect(() => embeddingForward(rt, ids, table.reshape([12]))).toThrow('embeddingForward: table table[12]:f32 must be [V, C]');
    expect(() => groupIds(Int32Array.from([0, -3]))).toThrow('groupIds: id -3 at position 1 is negative');
    expect(() => checkIds(Int32Array.from([0, 4]), 4, 'batch 0')).toThrow("batch 0: id 4 at position 1 is outside the embedding's 4 rows");
    expect(() => embeddingBackward(rt, dy, groupIds(Int32Array.from([2, 9])), [4, 3])).toThrow(
      "embeddingBackward: id 9 at position 1 is outside the table's 4 rows",
    );
    expect(() => embeddingBackward(rt, dy, groupIds(Int32Array.from([1, 2, 3])), [4, 3])).toThrow(
      'embeddingBackward: dy dy[2,3]:f32 should be [3, 3]:f32 for 3 ids and table [4, 3]',
    );
    for (const t of [ids, idsF, table, dy]) t.dispose();
  });
});

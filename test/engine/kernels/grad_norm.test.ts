import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn } from '../../helpers/numeric.ts';
import { gradNorm, readGradNorm, sumSquaresGroups } from '../../../src/engine/kernels/grad_norm.ts';
import { gradNormRef } from '../../../src/engine/kernels/grad_norm.ref.ts';

// Sizes not multiples of the 256-wide workgroup; 5000 and 20000 span several workgroups (partials).
const SIZES = [1, 7, 255, 257, 5000, 20000, 3];

describe('grad_norm (tolerance 1e-6 relative on ‖g‖², f32 sums)', () => {
  it('sums the squares of many tensors of odd sizes', async () => {
    const rt = await gpu();
    const data = SIZES.map((n, i) => randn(n, 100 + i, i % 2 ? 1e-3 : 2));
    const grads = data.map((d, i) => rt.upload(d, [d.length], 'f32', `g${i}`));
    expect(sumSquaresGroups(20000)).toBeGreaterThan(1);
    const out = gradNorm(rt, grads);
    const got = await readGradNorm(rt, out);
    const ref = gradNormRef(data);
    const rel = Math.abs(got.sumSq - ref.sumSq) / ref.sumSq;
    console.log(`grad_norm: ‖g‖² ${got.sumSq} vs ${ref.sumSq}, rel ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-6);
    expect(got.nonFinite).toBe(false);
    for (const t of [...grads, out]) t.dispose();
  });

  for (const [what, bad] of [['NaN', NaN], ['+Inf', Infinity], ['-Inf', -Infinity]] as const) {
    it(`flags a ${what} anywhere in any tensor`, async () => {
      const rt = await gpu();
      for (const [tensor, index] of [[4, 4321], [0, 0], [6, 2]]) {
        const data = SIZES.map((n, i) => randn(n, 200 + i));
        data[tensor][index] = bad;
        const grads = data.map((d) => rt.upload(d, [d.length]));
        const out = gradNorm(rt, grads);
        const got = await readGradNorm(rt, out);
        expect(got.nonFinite, `${what} in tensor ${tensor} at ${index}`).toBe(true);
        expect(got.sumSq).toBeNaN();
        for (const t of [...grads, out]) t.dispose();
      }
    });
  }

  it('flags a sum of squares that overflows f32 although every value is finite', async () => {
    const rt = await gpu();
    const g = rt.upload(new Float32Array([1e20, 3, -2e20]), [3]);
    const out = gradNorm(rt, [g]);
    expect((await readGradNorm(rt, out)).nonFinite).toBe(true);
    g.dispose();
    out.dispose();
  });

  it('gives 0 for no gradients and for empty ones, and reuses an out buffer', async () => {
    const rt = await gpu();
    const out = rt.empty([2], 'u32');
    gradNorm(rt, [], out);
    expect(await readGradNorm(rt, out)).toEqual({ sumSq: 0, nonFinite: false });
    const empty = rt.empty([0, 4]);
    const one = rt.upload(new Float32Array([3]), [1]);
    gradNorm(rt, [empty, one], out);
    expect(await readGradNorm(rt, out)).toEqual({ sumSq: 9, nonFinite: false });
    for (const t of [out, empty, one]) t.dispose();
  });

  it('refuses gradients that are not f32 and an out of the wrong shape', async () => {
    const rt = await gpu();
    const g = rt.upload(new Int32Array([1, 2]), [2], 'i32', 'wte.grad');
    expect(() => gradNorm(rt, [g])).toThrow(/wte\.grad\[2\]:i32 is not f32/);
    const f = rt.upload(new Float32Array([1]), [1]);
    const bad = rt.empty([2], 'f32', 'norm');
    expect(() => gradNorm(rt, [f], bad)).toThrow(/norm\[2\]:f32 should be \[2\]:u32/);
    for (const t of [g, f, bad]) t.dispose();
  });
});

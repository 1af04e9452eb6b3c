import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, worst } from '../../helpers/numeric.ts';
import { swigluBackward, swigluForward } from '../../../src/engine/kernels/swiglu.ts';
import { swigluBackwardRef, swigluForwardRef } from '../../../src/engine/kernels/swiglu.ref.ts';

describe('swiglu (tolerance 2e-6 relative)', () => {
  it('the CPU backward matches finite differences of the CPU forward', () => {
    const n = 12;
    const gate = Float64Array.from(randn(n, 1, 3));
    const up = Float64Array.from(randn(n, 2));
    const dy = Float64Array.from(randn(n, 3));
    const loss = (g: Float64Array, u: Float64Array) => swigluForwardRef(g, u).reduce((s, v, i) => s + v * dy[i], 0);
    const { dgate, dup } = swigluBackwardRef(dy, gate, up);
    expect(worst('swiglu ref dgate vs finite differences', dgate, finiteDiff((g) => loss(g, up), gate))).toBeLessThan(1e-8);
    expect(worst('swiglu ref dup vs finite differences', dup, finiteDiff((u) => loss(gate, u), up))).toBeLessThan(1e-8);
  });

  for (const [N, F] of [[7, 33], [1, 1], [5, 1000]]) {
    it(`gate, up [${N}, ${F}]: forward and backward`, async () => {
      const rt = await gpu();
      const gate = randn(N * F, N + F, 4); // wide: saturated σ on both sides
      if (N * F > 2) gate.set([-120, 95], 0); // exp would overflow in a naive σ
      const up = randn(N * F, N * F);
      const dy = randn(N * F, 3 * N + F);
      const tg = rt.upload(gate, [N, F]);
      const tu = rt.upload(up, [N, F]);
      const tdy = rt.upload(dy, [N, F]);
      const h = swigluForward(rt, tg, tu);
      expect(worst(`swiglu h [${N},${F}]`, await rt.readF32(h), swigluForwardRef(gate, up))).toBeLessThan(2e-6);
      const { dgate, dup } = swigluBackward(rt, tdy, tg, tu);
      const ref = swigluBackwardRef(dy, gate, up);
      expect(worst(`swiglu dgate [${N},${F}]`, await rt.readF32(dgate), ref.dgate)).toBeLessThan(2e-6);
      expect(worst(`swiglu dup [${N},${F}]`, await rt.readF32(dup), ref.dup)).toBeLessThan(2e-6);
      for (const t of [tg, tu, tdy, h, dgate, dup]) t.dispose();
    });
  }

  it('names the tensors in shape errors', async () => {
    const rt = await gpu();
    const g = rt.zeros([3, 4], 'f32', 'gate');
    const u = rt.zeros([3, 5], 'f32', 'up');
    expect(() => swigluForward(rt, g, u)).toThrow('swigluForward: up[3,5]:f32 should match gate[3,4]:f32');
    expect(() => swigluBackward(rt, u, g, g)).toThrow('swigluBackward: up[3,5]:f32 should match gate[3,4]:f32');
    g.dispose();
    u.dispose();
  });
});

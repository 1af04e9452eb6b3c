import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn, relErr, worst } from '../../helpers/numeric.ts';
import { hiddenLoss, type HiddenLossKind } from '../../../src/engine/kernels/hidden_loss.ts';
import { hiddenLossRef } from '../../../src/engine/kernels/hidden_loss.ref.ts';
import { hiddenLoss as coreHiddenLoss } from '../../../src/core/losses/hidden.ts';

function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-6): Float64Array {
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

const KINDS: HiddenLossKind[] = ['mse', 'cosine'];

describe('hidden-state loss through a learned projection (tolerance 1e-5 relative; reference vs finite differences 1e-7)', () => {
  for (const kind of KINDS) {
    it(`${kind}: the CPU reference gradients match finite differences, and the core reference`, () => {
      const [N, Ds, Dt] = [3, 4, 5];
      const mask = [0, -1, 2];
      const hS = Float64Array.from(randn(N * Ds, 1));
      const hT = Float64Array.from(randn(N * Dt, 2));
      const W = Float64Array.from(randn(Dt * Ds, 3, 0.5));
      const b = Float64Array.from(randn(Dt, 4));
      const ref = hiddenLossRef(hS, hT, W, b, mask, N, Ds, Dt, kind, 2, 0.7);
      const f = () => hiddenLossRef(hS, hT, W, b, mask, N, Ds, Dt, kind, 2, 0.7).loss;
      expect(worst(`${kind} ref dhS vs finite differences`, ref.dhS, finiteDiff(f, hS))).toBeLessThan(1e-7);
      expect(worst(`${kind} ref dW vs finite differences`, ref.dW, finiteDiff(f, W))).toBeLessThan(1e-7);
      expect(worst(`${kind} ref db vs finite differences`, ref.db, finiteDiff(f, b))).toBeLessThan(1e-7);
      const core = coreHiddenLoss(
        { tokens: N, studentDim: Ds, teacherDim: Dt, student: hS, teacher: hT, weight: W, bias: b, mask: mask.map((m) => +(m >= 0)) },
        kind,
      );
      expect(Math.abs(core.loss * 0.7 - ref.loss)).toBeLessThan(1e-12);
      expect(worst(`${kind} ref vs core dW`, ref.dW, core.gradWeight.map((g) => g * 0.7))).toBeLessThan(1e-12);
    });

    it(`${kind}: loss and gradients match the reference; dW, db accumulate`, async () => {
      const rt = await gpu();
      for (const [N, Ds, Dt] of [[5, 24, 40], [70, 33, 300]]) {
        const hS = randn(N * Ds, N + 1);
        const hT = randn(N * Dt, N + 2);
        const W = randn(Dt * Ds, N + 3, 0.3);
        const b = randn(Dt, N + 4);
        const mask = Int32Array.from({ length: N }, (_, i) => (i % 4 === 1 ? -1 : i));
        const dW0 = randn(Dt * Ds, N + 5);
        const db0 = randn(Dt, N + 6);
        const count = N; // averaged over a larger batch than the counted tokens here
        const ref = hiddenLossRef(hS, hT, W, b, mask, N, Ds, Dt, kind, count, 0.5);
        const t = {
          hS: rt.upload(hS, [N, Ds]), hT: rt.upload(hT, [N, Dt]), weight: rt.upload(W, [Dt, Ds]), bias: rt.upload(b, [Dt]),
          mask: rt.upload(mask, [N], 'i32'), dW: rt.upload(dW0, [Dt, Ds]), db: rt.upload(db0, [Dt]),
        };
        const out = hiddenLoss(rt, { ...t, kind, count, lossWeight: 0.5 });
        expect(out.dW).toBe(t.dW);
        const shape = `N=${N} ${Ds}→${Dt}`;
        expect(worst(`${kind} loss ${shape}`, [await rt.readScalar(out.loss)], [ref.loss])).toBeLessThan(1e-5);
        expect(worst(`${kind} dhS ${shape}`, await rt.readF32(out.dhS), ref.dhS)).toBeLessThan(1e-5);
        expect(worst(`${kind} dW ${shape}`, await rt.readF32(out.dW), ref.dW.map((g, i) => g + dW0[i]))).toBeLessThan(1e-5);
        expect(worst(`${kind} db ${shape}`, await rt.readF32(out.db!), ref.db.map((g, i) => g + db0[i]))).toBeLessThan(1e-5);
        for (const x of [...Object.values(t), out.loss, out.dhS]) x.dispose();
      }
    });
  }

  it('cosine with a zero projection: ‖y‖ below ε is clamped as torch does', async () => {
    const rt = await gpu();
    const [N, Ds, Dt] = [2, 3, 4];
    const hS = randn(N * Ds, 51);
    const hT = randn(N * Dt, 52);
    const ref = hiddenLossRef(hS, hT, new Float32Array(Dt * Ds), null, [0, 1], N, Ds, Dt, 'cosine', N);
    const out = hiddenLoss(rt, {
      hS: rt.upload(hS, [N, Ds]), hT: rt.upload(hT, [N, Dt]), weight: rt.zeros([Dt, Ds]), mask: rt.upload(Int32Array.from([0, 1]), [N], 'i32'),
      kind: 'cosine', count: N,
    });
    expect(await rt.readScalar(out.loss)).toBeCloseTo(1, 6);
    expect(worst('zero projection dW', await rt.readF32(out.dW), ref.dW)).toBeLessThan(1e-5);
    expect(out.db).toBeNull();
  });

  it('names the tensor in errors', async () => {
    const rt = await gpu();
    const hS = rt.zeros([3, 4], 'f32', 'h_s');
    const hT = rt.zeros([3, 5], 'f32', 'h_t');
    const W = rt.zeros([5, 4], 'f32', 'proj');
    const mask = rt.zeros([3], 'i32', 'mask');
    const base = { hS, hT, weight: W, mask, kind: 'mse' as const, count: 3 };
    expect(() => hiddenLoss(rt, { ...base, weight: rt.zeros([4, 5], 'f32', 'projT') })).toThrow('hiddenLoss: projection weight projT[4,5]:f32 should be [5, 4]:f32');
    expect(() => hiddenLoss(rt, { ...base, hT: rt.zeros([2, 5], 'f32', 'short') })).toThrow('teacher hidden short[2,5]:f32 should be [3, D]:f32');
    expect(() => hiddenLoss(rt, { ...base, mask: rt.zeros([3], 'f32', 'fmask') })).toThrow('mask fmask[3]:f32 should be [3]:i32');
    expect(() => hiddenLoss(rt, { ...base, kind: 'l1' as HiddenLossKind })).toThrow("kind 'l1' must be 'mse' or 'cosine'");
    expect(() => hiddenLoss(rt, { ...base, bias: rt.zeros([4], 'f32', 'b') })).toThrow('projection bias b[4]:f32 should be [5]:f32');
  });
});

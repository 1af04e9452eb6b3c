import { torchJson } from '../../helpers/python.ts';
import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, worst } from '../../helpers/numeric.ts';
import { rmsnormBackward, rmsnormForward } from '../../../src/engine/kernels/rmsnorm.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../../../src/engine/kernels/rmsnorm.ref.ts';


const EPS = 1e-6;
// Hidden-state rows, Qwen3's per-head q/k norm rows (C = head_dim), and shapes not multiples of 256 or 64.
// (C = 1 is left out: there dx = r·dy·w·(1 − x²r²) is pure cancellation, ~eps, in any f32 code.)
const SHAPES: [number, number][] = [[7, 33], [1, 3], [3, 300], [130, 64], [70, 513]];

describe('rmsnorm (tolerance 2e-6 relative forward, 1e-5 backward)', () => {
  it('the CPU backward matches finite differences of the CPU forward', () => {
    const [N, C] = [3, 5];
    const x = Float64Array.from(randn(N * C, 1));
    const w = Float64Array.from(randn(C, 2));
    const dy = Float64Array.from(randn(N * C, 3));
    const loss = (xx: Float64Array, ww: Float64Array) => rmsnormForwardRef(xx, ww, N, C, EPS).y.reduce((s, v, i) => s + v * dy[i], 0);
    const { dx, dw } = rmsnormBackwardRef(dy, x, w, N, C, EPS);
    expect(worst('rmsnorm ref dx vs finite differences', dx, finiteDiff((xx) => loss(xx, w), x))).toBeLessThan(1e-7);
    expect(worst('rmsnorm ref dw vs finite differences', dw, finiteDiff((ww) => loss(x, ww), w))).toBeLessThan(1e-7);
  });

  for (const [N, C] of SHAPES) {
    it(`x [${N}, ${C}]: forward, rstd, dx, dweight (written, accumulated, skipped)`, async () => {
      const rt = await gpu();
      const x = randn(N * C, N * 7 + C, 2);
      const w = randn(C, C + 1);
      const dy = randn(N * C, N + 3 * C);
      const tx = rt.upload(x, [N, C]);
      const tw = rt.upload(w, [C]);
      const tdy = rt.upload(dy, [N, C]);
      const ref = rmsnormForwardRef(x, w, N, C, EPS);
      // Both forwards: a workgroup per row (GPUs) and an invocation per row (software adapters).
      const other = rmsnormForward(rt, tx, tw, EPS, rt.env.isSoftware ? 'workgroup' : 'rows');
      expect(worst(`rmsnorm y (other impl) [${N},${C}]`, await rt.readF32(other.y), ref.y)).toBeLessThan(2e-6);
      expect(worst(`rmsnorm rstd (other impl) [${N},${C}]`, await rt.readF32(other.rstd), ref.rstd)).toBeLessThan(2e-6);
      other.y.dispose();
      other.rstd.dispose();
      const { y, rstd } = rmsnormForward(rt, tx, tw, EPS);
      expect(worst(`rmsnorm y [${N},${C}]`, await rt.readF32(y), ref.y)).toBeLessThan(2e-6);
      expect(worst(`rmsnorm rstd [${N},${C}]`, await rt.readF32(rstd), ref.rstd)).toBeLessThan(2e-6);

      const grads = rmsnormBackwardRef(dy, x, w, N, C, EPS);
      const otherDx = rmsnormBackward(rt, tdy, tx, tw, rstd, { needWeight: false, impl: rt.env.isSoftware ? 'workgroup' : 'rows' }).dx;
      expect(worst(`rmsnorm dx (other impl) [${N},${C}]`, await rt.readF32(otherDx), grads.dx)).toBeLessThan(1e-5);
      otherDx.dispose();
      const { dx, dw } = rmsnormBackward(rt, tdy, tx, tw, rstd);
      expect(worst(`rmsnorm dx [${N},${C}]`, await rt.readF32(dx), grads.dx)).toBeLessThan(1e-5);
      expect(worst(`rmsnorm dw [${N},${C}]`, await rt.readF32(dw!), grads.dw)).toBeLessThan(1e-5);
      rmsnormBackward(rt, tdy, tx, tw, rstd, { out: dw!, accumulate: true }).dx.dispose();
      expect(worst(`rmsnorm dw accumulate [${N},${C}]`, await rt.readF32(dw!), grads.dw.map((v) => 2 * v))).toBeLessThan(1e-5);
      const frozen = rmsnormBackward(rt, tdy, tx, tw, rstd, { needWeight: false });
      expect(frozen.dw).toBeNull();
      for (const t of [tx, tw, tdy, y, rstd, dx, dw!, frozen.dx]) t.dispose();
    });
  }

  it('matches the torch worker RMSNorm (forward and autograd) in f32', async () => {
    const rt = await gpu();
    const [N, C, eps] = [5, 96, 1e-6];
    const x = randn(N * C, 41, 3);
    const w = randn(C, 42);
    const dy = randn(N * C, 43);
    const torch = torchJson<{ y: number[]; dx: number[]; dw: number[] }>(
      `
import json, sys, torch
from retort_torch.model import RMSNorm
d = json.load(sys.stdin)
x = torch.tensor(d["x"], dtype=torch.float32).view(d["N"], d["C"]).requires_grad_()
m = RMSNorm(d["C"], d["eps"])
with torch.no_grad():
    m.weight.copy_(torch.tensor(d["w"], dtype=torch.float32))
y = m(x)
y.backward(torch.tensor(d["dy"], dtype=torch.float32).view(d["N"], d["C"]))
print(json.dumps({"y": y.detach().flatten().tolist(), "dx": x.grad.flatten().tolist(), "dw": m.weight.grad.tolist()}))
`,
      { N, C, eps, x: Array.from(x), w: Array.from(w), dy: Array.from(dy) },
    );
    const tx = rt.upload(x, [N, C]);
    const tw = rt.upload(w, [C]);
    const tdy = rt.upload(dy, [N, C]);
    const { y, rstd } = rmsnormForward(rt, tx, tw, eps);
    const { dx, dw } = rmsnormBackward(rt, tdy, tx, tw, rstd);
    expect(worst('rmsnorm y vs torch', await rt.readF32(y), torch.y)).toBeLessThan(2e-6);
    expect(worst('rmsnorm dx vs torch', await rt.readF32(dx), torch.dx)).toBeLessThan(1e-5);
    expect(worst('rmsnorm dw vs torch', await rt.readF32(dw!), torch.dw)).toBeLessThan(1e-5);
    for (const t of [tx, tw, tdy, y, rstd, dx, dw!]) t.dispose();
  });

  it('names the tensors in shape errors', async () => {
    const rt = await gpu();
    const x = rt.zeros([4, 6], 'f32', 'h');
    const w = rt.zeros([5], 'f32', 'norm.weight');
    const w6 = rt.zeros([6], 'f32', 'norm.weight');
    const rstd = rt.zeros([3], 'f32', 'rstd');
    expect(() => rmsnormForward(rt, x, w, 1e-6)).toThrow('rmsnormForward: weight norm.weight[5]:f32 should be [6]:f32 for x h[4,6]:f32');
    expect(() => rmsnormForward(rt, x, w6, Number.NaN)).toThrow('rmsnormForward: eps NaN must be ≥ 0');
    expect(() => rmsnormBackward(rt, x, x, w6, rstd)).toThrow('rmsnormBackward: rstd rstd[3]:f32 should be [4]:f32');
    expect(() => rmsnormBackward(rt, w6, x, w6, rstd)).toThrow('rmsnormBackward: dy norm.weight[6]:f32 should match x h[4,6]:f32');
    for (const t of [x, w, w6, rstd]) t.dispose();
  });
});

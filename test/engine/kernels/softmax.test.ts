import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, worst } from '../../helpers/numeric.ts';
import {
  logSoftmaxBackward, logSoftmaxForward, rowLogSumExp, softmaxBackward, softmaxForward,
} from '../../../src/engine/kernels/softmax.ts';
import {
  logSoftmaxBackwardRef, logSoftmaxRef, rowLogSumExpRef, softmaxBackwardRef, softmaxRef,
} from '../../../src/engine/kernels/softmax.ref.ts';

// V = 152064 is the largest Qwen vocabulary; an offset of +1000 would overflow exp without the max
// (at T = 1, so z − max stays exact in f32: at 1000/T the input's own f32 rounding shows, in torch too).
const CASES: { N: number; V: number; T: number; offset: number }[] = [
  { N: 7, V: 1000, T: 0.7, offset: 0 },
  { N: 3, V: 33, T: 1, offset: 1000 },
  { N: 2, V: 1, T: 2.5, offset: 0 },
  { N: 1, V: 152064, T: 2, offset: -300 },
];

describe('softmax, log-softmax, log-sum-exp (tolerance 2e-6 relative)', () => {
  it('the CPU backwards match finite differences of the CPU forwards', () => {
    const [N, V, T] = [2, 5, 1.7];
    const x = Float64Array.from(randn(N * V, 1, 2));
    const dy = Float64Array.from(randn(N * V, 2));
    const dot = (y: Float64Array) => y.reduce((s, v, i) => s + v * dy[i], 0);
    const fdSoft = finiteDiff((xx) => dot(softmaxRef(xx, N, V, T)), x);
    const fdLog = finiteDiff((xx) => dot(logSoftmaxRef(xx, N, V, T)), x);
    expect(worst('softmax ref backward vs finite differences', softmaxBackwardRef(dy, x, N, V, T), fdSoft)).toBeLessThan(1e-8);
    expect(worst('log-softmax ref backward vs finite differences', logSoftmaxBackwardRef(dy, x, N, V, T), fdLog)).toBeLessThan(1e-8);
  });

  for (const { N, V, T, offset } of CASES) {
    it(`x [${N}, ${V}] / T=${T}${offset ? `, logits offset by ${offset}` : ''}: forwards and backwards`, async () => {
      const rt = await gpu();
      const x = randn(N * V, N + V, 3).map((v) => v + offset);
      const dy = randn(N * V, 2 * N + V);
      const tx = rt.upload(x, [N, V]);
      const tdy = rt.upload(dy, [N, V]);
      const tag = `[${N},${V}] T=${T}`;
      const p = softmaxForward(rt, tx, T);
      const lp = logSoftmaxForward(rt, tx, T);
      const lse = rowLogSumExp(rt, tx, T);
      expect(lse.shape).toEqual([N]);
      expect(worst(`softmax ${tag}`, await rt.readF32(p), softmaxRef(x, N, V, T))).toBeLessThan(2e-6);
      expect(worst(`log-softmax ${tag}`, await rt.readF32(lp), logSoftmaxRef(x, N, V, T))).toBeLessThan(2e-6);
      expect(worst(`logsumexp ${tag}`, await rt.readF32(lse), rowLogSumExpRef(x, N, V, T))).toBeLessThan(2e-6);
      const dxSoft = softmaxBackward(rt, tdy, p, T);
      const dxLog = logSoftmaxBackward(rt, tdy, lp, T);
      expect(worst(`softmax backward ${tag}`, await rt.readF32(dxSoft), softmaxBackwardRef(dy, x, N, V, T))).toBeLessThan(2e-6);
      expect(worst(`log-softmax backward ${tag}`, await rt.readF32(dxLog), logSoftmaxBackwardRef(dy, x, N, V, T))).toBeLessThan(2e-6);
      for (const t of [tx, tdy, p, lp, lse, dxSoft, dxLog]) t.dispose();
    });
  }

  it('names the tensor and the temperature in errors', async () => {
    const rt = await gpu();
    const x = rt.zeros([3, 8], 'f32', 'logits');
    const dy = rt.zeros([3, 7], 'f32', 'dy');
    const ids = rt.zeros([3, 8], 'i32', 'ids');
    expect(() => softmaxForward(rt, x, 0)).toThrow('softmaxForward: temperature 0 must be a positive number');
    expect(() => rowLogSumExp(rt, x, Number.POSITIVE_INFINITY)).toThrow('rowLogSumExp: temperature Infinity must be a positive number');
    expect(() => logSoftmaxForward(rt, ids)).toThrow('logSoftmaxForward: ids[3,8]:i32 must be an f32 [N, V]');
    expect(() => softmaxBackward(rt, dy, x)).toThrow('softmaxBackward: dy dy[3,7]:f32 should match y logits[3,8]:f32');
    for (const t of [x, dy, ids]) t.dispose();
  });
});

import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn } from '../../helpers/numeric.ts';
import { adamwPrepare, adamwUpdate, HYPER, HYPER_WORDS } from '../../../src/engine/kernels/adamw.ts';
import { adamwStepRef } from '../../../src/engine/kernels/adamw.ref.ts';
import { gradNorm } from '../../../src/engine/kernels/grad_norm.ts';
import type { Runtime } from '../../../src/engine/runtime.ts';
import type { Tensor } from '../../../src/engine/tensor.ts';

const f32 = (bits: number) => new Float32Array(new Uint32Array([bits]).buffer)[0];

async function readHyper(rt: Runtime, hyper: Tensor) {
  const h = (await rt.read(hyper)) as Uint32Array;
  return { step: h[HYPER.step], skipped: h[HYPER.skipped], clip: f32(h[HYPER.clip]), stepSize: f32(h[HYPER.stepSize]), bc2Sqrt: f32(h[HYPER.bc2Sqrt]) };
}

describe('adamw_prepare (bias corrections and clip coefficient on the GPU, tolerance 1e-6 relative)', () => {
  it('matches 1 − β^t in float64 from the first step to the ten-thousandth', async () => {
    const rt = await gpu();
    const hyper = rt.zeros([HYPER_WORDS], 'u32');
    const norm = rt.upload(new Uint32Array([new Uint32Array(new Float32Array([16]).buffer)[0], 0]), [2], 'u32');
    let worst = 0;
    for (const [beta1, beta2] of [[0.9, 0.999], [0.5, 0.95], [0, 0.9999], [0.99, 0.98]]) {
      for (const t0 of [0, 1, 4, 30, 499, 9999]) {
        rt.write(hyper, new Uint32Array([t0, 0, 0, 0, 0]));
        const lr = 3e-4;
        adamwPrepare(rt, norm, hyper, { lr, beta1, beta2, eps: 1e-8, weightDecay: 0 }, 2);
        const h = await readHyper(rt, hyper);
        const t = t0 + 1;
        expect(h.step).toBe(t);
        expect(h.skipped).toBe(0);
        const stepSize = lr / (1 - beta1 ** t);
        const bc2Sqrt = Math.sqrt(1 - beta2 ** t);
        const errs = [Math.abs(h.stepSize - stepSize) / stepSize, Math.abs(h.bc2Sqrt - bc2Sqrt) / bc2Sqrt, Math.abs(h.clip - 2 / (4 + 1e-6)) / 0.5];
        worst = Math.max(worst, ...errs);
        for (const e of errs) expect(e, `β=(${beta1}, ${beta2}) t=${t}`).toBeLessThan(1e-6);
      }
    }
    console.log(`adamw_prepare: worst relative error ${worst.toExponential(2)}`);
    hyper.dispose();
    norm.dispose();
  });

  it('skips (t unchanged) when the gradient norm is flagged, and clamps the clip coefficient to 1', async () => {
    const rt = await gpu();
    const hyper = rt.upload(new Uint32Array([7, 0, 0, 0, 0]), [HYPER_WORDS], 'u32');
    const norm = rt.upload(new Uint32Array([0x7fc00000, 1]), [2], 'u32');
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
    adamwPrepare(rt, norm, hyper, h, 1);
    expect(await readHyper(rt, hyper)).toMatchObject({ step: 7, skipped: 1 });
    rt.write(norm, new Uint32Array([new Uint32Array(new Float32Array([0.25]).buffer)[0], 0]));
    adamwPrepare(rt, norm, hyper, h, 1);
    expect(await readHyper(rt, hyper)).toMatchObject({ step: 8, skipped: 0, clip: 1 });
    hyper.dispose();
    norm.dispose();
  });
});

describe('adamw_update (tolerance 1e-6 relative vs the float64 torch formula)', () => {
  // [n, workgroups a grid row]: 70000 elements on a 3-wide grid fold into 3 × 92 workgroups.
  for (const [n, maxGroupsX] of [[1, 65535], [300, 65535], [70000, 65535], [70000, 3]]) {
    it(`updates ${n} elements over 3 steps with clipping active (grid rows of ≤ ${maxGroupsX})`, async () => {
      const rt = await gpu();
      const p0 = randn(n, n + 1);
      const ref = { p: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n), weightDecay: 0.1 };
      const p = rt.upload(p0, [n]);
      const m = rt.zeros([n]);
      const v = rt.zeros([n]);
      const hyper = rt.zeros([HYPER_WORDS], 'u32');
      const norm = rt.empty([2], 'u32');
      const o = { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm: 0.5 * Math.sqrt(n) };
      let step = 0;
      for (let s = 0; s < 3; s++) {
        const g = randn(n, 10 * n + s, 1 + s);
        const tg = rt.upload(g, [n]);
        gradNorm(rt, [tg], norm);
        adamwPrepare(rt, norm, hyper, { ...o, weightDecay: 0 }, o.maxNorm);
        adamwUpdate(rt, p, tg, m, v, hyper, { ...o, weightDecay: ref.weightDecay }, maxGroupsX);
        step = adamwStepRef([ref], [g], step, o).step;
        tg.dispose();
      }
      let worst = 0;
      for (const [got, want] of [[p, ref.p], [m, ref.m], [v, ref.v]] as const) {
        const a = await rt.readF32(got);
        let d = 0;
        let s = 0;
        for (let i = 0; i < n; i++) {
          d = Math.max(d, Math.abs(a[i] - want[i]));
          s = Math.max(s, Math.abs(want[i]));
        }
        worst = Math.max(worst, d / s);
      }
      console.log(`adamw_update n=${n} grid rows ≤ ${maxGroupsX}: worst relative error ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-6);
      for (const t of [p, m, v, hyper, norm]) t.dispose();
    });
  }

  it('names the parameter when a buffer does not match it', async () => {
    const rt = await gpu();
    const p = rt.zeros([4], 'f32', 'lm_head.weight');
    const g = rt.zeros([5], 'f32', 'lm_head.weight.grad');
    const hyper = rt.zeros([HYPER_WORDS], 'u32');
    const h = { lr: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };
    expect(() => adamwUpdate(rt, p, g, p, p, hyper, h)).toThrow(/lm_head\.weight\.grad\[5\]:f32 has 5 elements, parameter lm_head\.weight\[4\]:f32 has 4/);
    for (const t of [p, g, hyper]) t.dispose();
  });
});

import updateSource from './adamw.wgsl?raw';
import prepareSource from './adamw_prepare.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';

const WG = 256;

const PREPARE = defineKernel({
  name: 'adamw_prepare',
  source: prepareSource,
  bindings: [
    { name: 'norm', access: 'read', type: 'u32' },
    { name: 'hyper', access: 'read_write', type: 'u32' },
  ],
  params: { lr: 'f32', lnBeta1: 'f32', lnBeta2: 'f32', maxNorm: 'f32' },
  entry: 'prepare',
});

const UPDATE = defineKernel({
  name: 'adamw_update',
  source: updateSource,
  bindings: [
    { name: 'param', access: 'read_write', type: 'f32' },
    { name: 'grad', access: 'read', type: 'f32' },
    { name: 'exp_avg', access: 'read_write', type: 'f32' },
    { name: 'exp_avg_sq', access: 'read_write', type: 'f32' },
    { name: 'hyper', access: 'read', type: 'u32' },
  ],
  params: {
    n: 'u32', groupsX: 'u32',
    decay: 'f32', beta1: 'f32', beta2: 'f32', oneMinusBeta1: 'f32', oneMinusBeta2: 'f32', eps: 'f32',
  },
  entry: 'update',
});

/** Words of the optimizer's GPU state `hyper`: [t, skipped, clip, stepSize, sqrt(bc2)] (floats as bits). */
export const HYPER_WORDS = 5;
export const HYPER = { step: 0, skipped: 1, clip: 2, stepSize: 3, bc2Sqrt: 4 } as const;

export interface AdamWHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay: p ← p·(1 − lr·wd) before the Adam step. */
  weightDecay: number;
}

/** ln β for the GPU's bias correction; β = 0 (no momentum) becomes a β^t that is 0 in f32 from t = 1. */
function lnBeta(beta: number): number {
  return beta > 0 ? Math.log(beta) : -100;
}

/**
 * The per-step scalars of AdamW, on the GPU. norm [2] u32 (a `gradNorm` result) → hyper [5] u32:
 * t += 1 and the coefficients of this step, or `skipped` = 1 (t unchanged) when the gradients are
 * not finite. `maxNorm` ≤ 0 turns clipping off.
 */
export function adamwPrepare(rt: Runtime, norm: Tensor, hyper: Tensor, h: AdamWHyper, maxNorm: number): void {
  rt.dispatch(PREPARE, {}, { lr: h.lr, lnBeta1: lnBeta(h.beta1), lnBeta2: lnBeta(h.beta2), maxNorm }, [norm, hyper], [1]);
}

/**
 * One AdamW step of one parameter, in place. param, grad, expAvg, expAvgSq: same element count, f32;
 * hyper [5] u32 from `adamwPrepare` this step. `h.weightDecay` may differ per parameter. Past
 * `maxGroupsX` workgroups (the device's limit; tests lower it) the grid folds into 2-D.
 */
export function adamwUpdate(
  rt: Runtime, param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, hyper: Tensor, h: AdamWHyper,
  maxGroupsX = rt.device.limits.maxComputeWorkgroupsPerDimension,
): void {
  for (const t of [param, grad, expAvg, expAvgSq]) {
    if (t.dtype !== 'f32') throw new Error(`adamw: ${t.describe()} is not f32 (parameter ${param.describe()})`);
    if (t.size !== param.size) throw new Error(`adamw: ${t.describe()} has ${t.size} elements, parameter ${param.describe()} has ${param.size}`);
  }
  const groups = Math.ceil(param.size / WG);
  const groupsX = Math.min(groups, maxGroupsX);
  rt.dispatch(
    UPDATE,
    {},
    {
      n: param.size, groupsX,
      decay: 1 - h.lr * h.weightDecay,
      beta1: h.beta1, beta2: h.beta2, oneMinusBeta1: 1 - h.beta1, oneMinusBeta2: 1 - h.beta2, eps: h.eps,
    },
    [param, grad, expAvg, expAvgSq, hyper],
    [groupsX, Math.ceil(groups / groupsX)],
  );
}

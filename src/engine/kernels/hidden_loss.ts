import source from './hidden_loss.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { addBias, biasGrad, rowGrid } from './elementwise.ts';
import { matmul } from './matmul.ts';
import { countScale } from './distill_loss.ts';

export type HiddenLossKind = 'mse' | 'cosine';

function kernel(entry: 'main' | 'total') {
  return defineKernel({
    name: `hidden_loss_${entry}`,
    source,
    entry,
    bindings: [
      { name: 'y', access: 'read_write', type: 'f32' },
      { name: 'ht', access: 'read', type: 'f32' },
      { name: 'mask', access: 'read', type: 'i32' },
      { name: 'parts', access: 'read_write', type: 'f32' },
      { name: 'loss', access: 'read_write', type: 'f32' },
    ],
    params: { N: 'u32', D: 'u32', scale: 'f32' },
  });
}
const ROWS = kernel('main');
const TOTAL = kernel('total');

/** Keep in step with KIND_COSINE of hidden_loss.wgsl. */
const KIND: Record<HiddenLossKind, number> = { mse: 0, cosine: 1 };

export interface HiddenLossArgs {
  hS: Tensor; // [N, Ds] student hidden states
  hT: Tensor; // [N, Dt] teacher hidden states (no gradient)
  weight: Tensor; // [Dt, Ds] projection W (a Linear's layout)
  bias?: Tensor; // [Dt] projection b
  /** [N] i32: a token with a negative value is left out (the labels, −1 = masked, serve). */
  mask: Tensor;
  kind: HiddenLossKind;
  /** Tokens the loss averages over (may span micro-batches). */
  count: number;
  /** The term's weight in the total loss; it scales the loss and every gradient. Default 1. */
  lossWeight?: number;
  /** Accumulate dL/dW into this [Dt, Ds] tensor (a parameter's `.grad`) instead of returning a new one. */
  dW?: Tensor;
  /** Accumulate dL/db into this [Dt] tensor instead of returning a new one. */
  db?: Tensor;
}

export interface HiddenLossResult {
  loss: Tensor; // [1] lossWeight · mean over counted tokens of the part
  dhS: Tensor; // [N, Ds]
  dW: Tensor; // [Dt, Ds] (args.dW when given)
  db: Tensor | null; // [Dt] (args.db when given); null without a bias
}

function requireMatrix(fn: string, what: string, t: Tensor, rows: number, cols?: number): number {
  const ok = t.dtype === 'f32' && t.shape.length === 2 && t.shape[0] === rows && (cols === undefined || t.shape[1] === cols);
  if (!ok) throw new Error(`${fn}: ${what} ${t.describe()} should be [${rows}, ${cols ?? 'D'}]:f32`);
  return t.shape[1];
}

// hS [N, Ds], hT [N, Dt], W [Dt, Ds], b [Dt], mask [N] → loss [1], dhS [N, Ds], dW [Dt, Ds], db [Dt].
// Forward and backward together: y = hS·Wᵀ + b, the row kernel turns y into dL/dy in place, then
//   y = W h_s + b  →  dhS = dy·W,  dW (+)= dyᵀ·hS,  db (+)= Σ_rows dy.
export function hiddenLoss(rt: Runtime, a: HiddenLossArgs): HiddenLossResult {
  const fn = 'hiddenLoss';
  if (a.hS.dtype !== 'f32' || a.hS.shape.length !== 2) throw new Error(`${fn}: student hidden ${a.hS.describe()} must be an f32 [N, Ds]`);
  const [N, Ds] = a.hS.shape;
  const Dt = requireMatrix(fn, 'teacher hidden', a.hT, N);
  requireMatrix(fn, 'projection weight', a.weight, Dt, Ds);
  if (a.bias && (a.bias.dtype !== 'f32' || a.bias.size !== Dt)) throw new Error(`${fn}: projection bias ${a.bias.describe()} should be [${Dt}]:f32`);
  if (a.mask.dtype !== 'i32' || a.mask.size !== N) throw new Error(`${fn}: mask ${a.mask.describe()} should be [${N}]:i32`);
  if (!(a.kind in KIND)) throw new Error(`${fn}: kind '${a.kind}' must be 'mse' or 'cosine'`);
  const lossWeight = a.lossWeight ?? 1;
  if (!(lossWeight >= 0) || !Number.isFinite(lossWeight)) throw new Error(`${fn}: lossWeight ${lossWeight} must be a finite number ≥ 0`);
  if (a.dW) requireMatrix(fn, 'dW', a.dW, Dt, Ds);
  if (a.db && (a.db.dtype !== 'f32' || a.db.size !== Dt)) throw new Error(`${fn}: db ${a.db.describe()} should be [${Dt}]:f32`);
  const scale = lossWeight * countScale(fn, a.count);

  const dy = matmul(rt, a.hS, a.weight, { transB: true }); // y [N, Dt], becomes dL/dy
  if (a.bias) addBias(rt, dy, a.bias);
  const parts = rt.empty([N], 'f32', 'hidden_loss.parts');
  const loss = rt.empty([1], 'f32', 'hidden_loss');
  const buffers = [dy, a.hT, a.mask, parts, loss];
  rt.dispatch(ROWS, { KIND: KIND[a.kind] }, { N, D: Dt, scale }, buffers, rowGrid(N, fn));
  rt.dispatch(TOTAL, { KIND: KIND[a.kind] }, { N, D: Dt, scale }, buffers, [1]);
  parts.dispose();

  const dhS = matmul(rt, dy, a.weight); // [N, Dt]·[Dt, Ds]
  const dW = matmul(rt, dy, a.hS, { transA: true, accumulate: !!a.dW, out: a.dW }); // [Dt, N]·[N, Ds]
  const db = a.bias ? biasGrad(rt, dy, a.db, !!a.db) : null;
  dy.dispose();
  return { loss, dhS, dW, db };
}

import source from './sparse_loss.wgsl?raw';
import commonSource from './distill_loss_common.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { rowGrid } from './elementwise.ts';
import { checkLabelsAndParts, countScale, distillLossRows, resolveLoss, type RowLossConfig } from './distill_loss.ts';

const ROW = defineKernel({
  name: 'sparse_loss',
  source: commonSource + source,
  bindings: [
    { name: 'zs', access: 'read_write', type: 'f32' },
    { name: 'ids', access: 'read', type: 'i32' },
    { name: 'logprobs', access: 'read', type: 'f32' },
    { name: 'labels', access: 'read', type: 'i32' },
    { name: 'stash', access: 'read_write', type: 'f32' },
    { name: 'parts', access: 'read_write', type: 'f32' },
  ],
  params: {
    rows: 'u32', V: 'u32', strideS: 'u32', k: 'u32', rowOffset: 'u32',
    T: 'f32', alpha: 'f32', beta: 'f32', lambda: 'f32', scale: 'f32',
  },
});

/** The kernel's log of a zero mass (DEAD in sparse_loss.wgsl): a finite stand-in for −∞. */
export const ZERO_MASS_LOGPROB = -1e30;

/** Sparse teacher targets on the GPU: per token k ids (i32, −1 = unused slot) and their log-probs at T = 1. */
export interface SparseTargetTensors {
  ids: Tensor; // [N, k] i32
  logprobs: Tensor; // [N, k] f32
}

/** The same on the host, as a dataset's `teacher_topk` gives them. */
export interface SparseTargetArrays {
  k: number;
  ids: Int32Array; // [N, k], −1 = unused slot (fewer than k targets at that token)
  logprobs: Float32Array; // [N, k]
}

/**
 * Checks host targets (ids in [0, V) or −1, distinct per token, log-probs not NaN or +∞) and
 * uploads them; −∞ becomes ZERO_MASS_LOGPROB since the kernel assumes finite floats.
 */
export function uploadSparseTargets(rt: Runtime, t: SparseTargetArrays, tokens: number, vocab: number): SparseTargetTensors {
  const fn = 'uploadSparseTargets';
  const { k } = t;
  if (!Number.isInteger(k) || k < 1) throw new Error(`${fn}: k ${k} must be a positive whole number`);
  if (t.ids.length !== tokens * k) throw new Error(`${fn}: teacher ids have ${t.ids.length} values, expected [tokens, k] = [${tokens}, ${k}]`);
  if (t.logprobs.length !== tokens * k) throw new Error(`${fn}: teacher logprobs have ${t.logprobs.length} values, expected [tokens, k] = [${tokens}, ${k}]`);
  const logprobs = new Float32Array(t.logprobs);
  const seen = new Set<number>();
  for (let n = 0; n < tokens; n++) {
    seen.clear();
    for (let j = 0; j < k; j++) {
      const id = t.ids[n * k + j];
      const lp = logprobs[n * k + j];
      if (id < -1 || id >= vocab) throw new Error(`${fn}: teacher ids [${n}, ${j}] = ${id} is outside [0, ${vocab}) (−1 marks an unused slot)`);
      if (id >= 0 && seen.has(id)) throw new Error(`${fn}: teacher ids: token ${n} lists id ${id} twice`);
      seen.add(id);
      if (Number.isNaN(lp) || lp === Infinity) throw new Error(`${fn}: teacher logprobs [${n}, ${j}] = ${lp} is not a log-probability`);
      if (lp === -Infinity) logprobs[n * k + j] = ZERO_MASS_LOGPROB;
    }
  }
  return {
    ids: rt.upload(t.ids, [tokens, k], 'i32', 'teacher_ids'),
    logprobs: rt.upload(logprobs, [tokens, k], 'f32', 'teacher_logprobs'),
  };
}

export interface SparseLossRowsArgs {
  /** [R, strideS] f32 student logits; overwritten by dL/dz_s (zero in padded columns and masked rows). */
  student: Tensor;
  /** The whole batch's targets [N, k]; row r is token rowOffset + r. Ids ≥ V count as unused slots. */
  targets: SparseTargetTensors;
  /** [N] i32 next-token ids, −1 = masked. */
  labels: Tensor;
  /** [N, 2] f32 ← (T²·D on the k + 1 bins, CE) of tokens rowOffset .. rowOffset + R − 1. */
  parts: Tensor;
  rowOffset: number;
  vocab: number;
  count: number;
  config: RowLossConfig;
}

// student [R, Ss], ids/logprobs [N, k], labels [N], parts [N, 2] → parts[rowOffset..+R] = (T²·D, CE);
// student ← dL/dz_s (forward and backward in one pass). Divergence 'none' is the dense kernel's plain CE.
export function sparseLossRows(rt: Runtime, a: SparseLossRowsArgs): void {
  const fn = 'sparseLossRows';
  const c = resolveLoss(fn, a.config);
  if (!c.soft) {
    distillLossRows(rt, { ...a, teacher: null });
    return;
  }
  const s = a.student;
  if (s.dtype !== 'f32' || s.shape.length !== 2) throw new Error(`${fn}: student logits ${s.describe()} must be an f32 [rows, columns]`);
  const [R, strideS] = s.shape;
  checkLabelsAndParts(fn, a.labels, a.parts, a.rowOffset, R);
  const N = a.labels.shape[0];
  const { ids, logprobs } = a.targets;
  if (ids.dtype !== 'i32' || ids.shape.length !== 2 || ids.shape[0] !== N) throw new Error(`${fn}: teacher ids ${ids.describe()} must be an i32 [${N}, k]`);
  const k = ids.shape[1];
  if (logprobs.dtype !== 'f32' || logprobs.shape.length !== 2 || logprobs.shape[0] !== N || logprobs.shape[1] !== k) {
    throw new Error(`${fn}: teacher logprobs ${logprobs.describe()} should be [${N}, ${k}]:f32 like ids ${ids.describe()}`);
  }
  const V = a.vocab;
  if (!Number.isInteger(V) || V < 1 || V > strideS) throw new Error(`${fn}: vocab ${V} must be in [1, ${strideS}] (student logits ${s.describe()})`);
  const stash = rt.empty([R, k], 'f32', 'sparse_loss.stash'); // the listed logits of each row
  rt.dispatch(
    ROW,
    { KIND: c.kind },
    {
      rows: R, V, strideS, k, rowOffset: a.rowOffset,
      T: c.T, alpha: c.alpha, beta: c.beta, lambda: c.lambda, scale: countScale(fn, a.count),
    },
    [s, ids, logprobs, a.labels, stash, a.parts],
    rowGrid(R, fn),
  );
  stash.dispose();
}

import source from './distill_loss.wgsl?raw';
import totalsSource from './distill_loss_totals.wgsl?raw';
import commonSource from './distill_loss_common.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import type { Divergence } from '../../core/schema/loss.ts';
import { rowGrid } from './elementwise.ts';

export type { Divergence };
export type DivergenceKind = Exclude<Divergence, 'none'>;

/** The token loss α·T²·D(p_t^T ‖ p_s^T) + (1 − α)·CE(y, p_s^1) at one step (DESIGN.md "Loss"). */
export interface RowLossConfig {
  /** 'none' = plain cross-entropy: no teacher is read and α counts as 0. */
  divergence: Divergence;
  temperature: number;
  alpha: number;
  /** gjsd's mixing β (0 → forward KL, 1 → reverse KL, as TRL's GKD); default 0.5. */
  beta?: number;
  /** skew λ of skew-kl / skew-reverse-kl; default 0.1. */
  lambda?: number;
}

/** Keep in step with the KIND_* constants of distill_loss_common.wgsl. */
export const KIND: Readonly<Record<DivergenceKind, number>> = {
  'forward-kl': 0, 'reverse-kl': 1, gjsd: 2, 'skew-kl': 3, 'skew-reverse-kl': 4, tvd: 5,
};

const ROW = defineKernel({
  name: 'distill_loss',
  source: commonSource + source,
  bindings: [
    { name: 'zs', access: 'read_write', type: 'f32' },
    { name: 'zt', access: 'read', type: 'f32' },
    { name: 'labels', access: 'read', type: 'i32' },
    { name: 'parts', access: 'read_write', type: 'f32' },
  ],
  params: {
    rows: 'u32', V: 'u32', strideS: 'u32', strideT: 'u32', rowOffset: 'u32', hasTeacher: 'u32',
    T: 'f32', alpha: 'f32', beta: 'f32', lambda: 'f32', scale: 'f32',
  },
});

const TOTALS = defineKernel({
  name: 'distill_loss_totals',
  source: totalsSource,
  bindings: [
    { name: 'parts', access: 'read', type: 'f32' },
    { name: 'loss', access: 'read_write', type: 'f32' },
    { name: 'soft', access: 'read_write', type: 'f32' },
    { name: 'hard', access: 'read_write', type: 'f32' },
  ],
  params: { N: 'u32', alpha: 'f32', scale: 'f32' },
});

/** The settled config: the kernel variant and the uniforms. Throws naming the field. */
export interface ResolvedLoss {
  soft: boolean; // a teacher term exists
  kind: number; // KIND_* of the variant
  T: number;
  alpha: number; // 0 when there is no soft term
  beta: number;
  lambda: number;
}

export function resolveLoss(fn: string, c: RowLossConfig): ResolvedLoss {
  const T = c.temperature;
  if (!(T > 0) || !Number.isFinite(T)) throw new Error(`${fn}: temperature ${T} must be a positive number`);
  const beta = c.beta ?? 0.5;
  const lambda = c.lambda ?? 0.1;
  for (const [name, v] of [['alpha', c.alpha], ['beta', beta], ['lambda', lambda]] as const) {
    if (!(v >= 0 && v <= 1)) throw new Error(`${fn}: ${name} ${v} must be in [0, 1]`);
  }
  // α = 0 weighs the soft term by nothing: skip it (and the teacher) entirely, as the torch worker's loss does.
  if (c.divergence === 'none' || c.alpha === 0) return { soft: false, kind: KIND['forward-kl'], T, alpha: 0, beta, lambda };
  if (!(c.divergence in KIND)) throw new Error(`${fn}: unknown divergence '${c.divergence}'`);
  // GKD's endpoints are the plain KLs (the mixture form's limits vanish there).
  const kind = c.divergence === 'gjsd' && beta === 0 ? 'forward-kl' : c.divergence === 'gjsd' && beta === 1 ? 'reverse-kl' : c.divergence;
  return { soft: true, kind: KIND[kind], T, alpha: c.alpha, beta, lambda };
}

/** 1/count, or 0 when nothing counts (loss 0, zero gradient). */
export function countScale(fn: string, count: number): number {
  if (!Number.isInteger(count) || count < 0) throw new Error(`${fn}: count ${count} must be a whole number ≥ 0`);
  return count === 0 ? 0 : 1 / count;
}

export interface DistillLossRowsArgs {
  /** [R, strideS] f32 student logits; overwritten by dL/dz_s (zero in padded columns and masked rows). */
  student: Tensor;
  /** [R, strideT] f32 teacher logits; null when the divergence is 'none'. */
  teacher: Tensor | null;
  /** [N] i32 next-token ids of the whole batch, −1 = masked; row r is token rowOffset + r. */
  labels: Tensor;
  /** [N, 2] f32 ← (T²·D, CE) of tokens rowOffset .. rowOffset + R − 1 (zeros where masked). */
  parts: Tensor;
  rowOffset: number;
  /** The tokenizer's vocabulary V ≤ both strides; columns past it are padding. */
  vocab: number;
  /** Tokens the batch loss averages over (may span other chunks and micro-batches). */
  count: number;
  config: RowLossConfig;
}

function requireF32Matrix(fn: string, what: string, t: Tensor): [number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 2) throw new Error(`${fn}: ${what} ${t.describe()} must be an f32 [rows, columns]`);
  return [t.shape[0], t.shape[1]];
}

export function checkLabelsAndParts(fn: string, labels: Tensor, parts: Tensor, rowOffset: number, rows: number): void {
  if (labels.dtype !== 'i32' || labels.shape.length !== 1) throw new Error(`${fn}: labels ${labels.describe()} must be an i32 [N]`);
  const N = labels.shape[0];
  if (parts.dtype !== 'f32' || parts.shape.length !== 2 || parts.shape[0] !== N || parts.shape[1] !== 2) {
    throw new Error(`${fn}: parts ${parts.describe()} should be [${N}, 2]:f32 for labels ${labels.describe()}`);
  }
  if (!Number.isInteger(rowOffset) || rowOffset < 0 || rowOffset + rows > N) {
    throw new Error(`${fn}: rows ${rowOffset}..${rowOffset + rows - 1} are outside labels ${labels.describe()}`);
  }
}

// student [R, Ss], teacher [R, St] | null, labels [N], parts [N, 2] → parts[rowOffset..+R] = (T²·D, CE);
// student ← dL/dz_s (forward and backward in one pass: the loss is the graph's end, its upstream gradient is 1).
export function distillLossRows(rt: Runtime, a: DistillLossRowsArgs): void {
  const fn = 'distillLossRows';
  const c = resolveLoss(fn, a.config);
  const [R, strideS] = requireF32Matrix(fn, 'student logits', a.student);
  checkLabelsAndParts(fn, a.labels, a.parts, a.rowOffset, R);
  const V = a.vocab;
  if (!Number.isInteger(V) || V < 1 || V > strideS) throw new Error(`${fn}: vocab ${V} must be in [1, ${strideS}] (student logits ${a.student.describe()})`);
  let teacher = a.teacher;
  let strideT = 0;
  if (c.soft) {
    if (!teacher) throw new Error(`${fn}: divergence '${a.config.divergence}' needs teacher logits (use 'none' for plain cross-entropy)`);
    const [Rt, St] = requireF32Matrix(fn, 'teacher logits', teacher);
    if (Rt !== R) throw new Error(`${fn}: teacher logits ${teacher.describe()} should have ${R} rows like student logits ${a.student.describe()}`);
    if (V > St) throw new Error(`${fn}: vocab ${V} exceeds teacher logits ${teacher.describe()}`);
    if (teacher.buffer === a.student.buffer) throw new Error(`${fn}: teacher and student logits share a buffer`);
    strideT = St;
  }
  // The read-only teacher binding may not alias the student's; without a teacher it is a dummy.
  const dummy = c.soft ? null : rt.empty([1], 'f32', 'distill_loss.no_teacher');
  teacher = c.soft ? teacher! : dummy!;
  rt.dispatch(
    ROW,
    { KIND: c.kind },
    {
      rows: R, V, strideS, strideT, rowOffset: a.rowOffset, hasTeacher: +c.soft,
      T: c.T, alpha: c.alpha, beta: c.beta, lambda: c.lambda, scale: countScale(fn, a.count),
    },
    [a.student, teacher, a.labels, a.parts],
    rowGrid(R, fn),
  );
  dummy?.dispose(); // back to the pool; the dispatch is encoded before any reuse
}

export interface LossTotals {
  loss: Tensor; // [1] α·soft + (1 − α)·hard
  soft: Tensor; // [1] Σ T²·D / count
  hard: Tensor; // [1] Σ CE / count
}

// parts [N, 2] = (T²·D, CE) per token → loss, soft, hard [1] each (sums / count, α-mixed).
export function distillLossTotals(rt: Runtime, parts: Tensor, config: RowLossConfig, count: number): LossTotals {
  const fn = 'distillLossTotals';
  const c = resolveLoss(fn, config);
  if (parts.dtype !== 'f32' || parts.shape.length !== 2 || parts.shape[1] !== 2) throw new Error(`${fn}: parts ${parts.describe()} must be an f32 [N, 2]`);
  const out: LossTotals = { loss: rt.empty([1], 'f32', 'loss'), soft: rt.empty([1], 'f32', 'loss.soft'), hard: rt.empty([1], 'f32', 'loss.hard') };
  rt.dispatch(TOTALS, {}, { N: parts.shape[0], alpha: c.alpha, scale: countScale(fn, count) }, [parts, out.loss, out.soft, out.hard], [1]);
  return out;
}

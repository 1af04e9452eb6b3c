/**
 * The distillation loss fused with the LM head and chunked over tokens (DESIGN.md "Loss", "The
 * engine"): for each chunk of tokens the student's logits [chunk, Vpad] are computed from its final
 * hidden states, the teacher's likewise (online KD) or its sparse top-k targets are read (offline KD),
 * the row kernel turns the student logits into dL/dlogits in place, and the head's backward runs on
 * that chunk at once. So at most `chunk × Vpad` floats of student and of teacher logits exist at a
 * time — never [tokens × vocab] — and nothing is read back: loss, soft and hard stay GPU scalars.
 */
import type { Runtime } from '../runtime.ts';
import { Tensor } from '../tensor.ts';
import { matmul } from '../kernels/matmul.ts';
import {
  distillLossRows, distillLossTotals, resolveLoss, type Divergence, type LossTotals, type RowLossConfig,
} from '../kernels/distill_loss.ts';
import {
  sparseLossRows, uploadSparseTargets, type SparseTargetArrays, type SparseTargetTensors,
} from '../kernels/sparse_loss.ts';

export type { Divergence, SparseTargetArrays, SparseTargetTensors };

export interface FusedLossArgs extends RowLossConfig {
  /** [N, C] f32 student final hidden states (after the final norm). */
  hS: Tensor;
  /** [Vpad, C] student LM head (f32, or packed f16/bf16 when frozen); tied embeddings pass the embedding. */
  wS: Tensor;
  /** Online KD: [N, Ct] f32 teacher final hidden states and its head [Vpad_t, Ct]. */
  hT?: Tensor;
  wT?: Tensor;
  /** Offline KD: top-k teacher targets (host arrays are checked and uploaded). */
  sparse?: SparseTargetTensors | SparseTargetArrays;
  /** [N] i32 next-token ids, −1 = masked (prompt, padding). Host labels are checked against V. */
  labels: Tensor | Int32Array;
  /** The tokenizer's vocabulary V ≤ Vpad: logit columns past it are padding, ignored, gradient 0. */
  logitVocab: number;
  /** Tokens the loss averages over — the whole step's when micro-batches accumulate. Default: labels ≥ 0 (host labels only). */
  count?: number;
  /** Tokens per chunk: peak memory is about chunkTokens × (Vpad + Vpad_t) floats. */
  chunkTokens: number;
  /** Accumulate dL/dwS into this [Vpad, C] f32 tensor (the head's `.grad`); absent = a frozen head. */
  dwS?: Tensor;
  /** Also return the per-token parts [N, 2] = (T²·D, CE), e.g. for a per-token divergence view. */
  perToken?: boolean;
}

export interface FusedLossResult extends LossTotals {
  /** [N, C] dL/dhS, to seed the student's backward. */
  dhS: Tensor;
  /** [N, 2] (T²·D, CE) per token, zeros where masked; only when `perToken` was asked. */
  parts?: Tensor;
}

/** The first `rows` rows of a [R, C] tensor, sharing its buffer. */
function prefixRows(t: Tensor, rows: number): Tensor {
  return rows === t.shape[0] ? t : t.view([rows, t.shape[1]]);
}

function requireMatrix(fn: string, what: string, t: Tensor, dtypes: readonly string[], rows?: number, cols?: number): [number, number] {
  const ok = t.shape.length === 2 && dtypes.includes(t.dtype) && (rows === undefined || t.shape[0] === rows) && (cols === undefined || t.shape[1] === cols);
  if (!ok) throw new Error(`${fn}: ${what} ${t.describe()} should be [${rows ?? 'rows'}, ${cols ?? 'cols'}] of ${dtypes.join('/')}`);
  return [t.shape[0], t.shape[1]];
}

function hostLabels(fn: string, labels: Int32Array, N: number, V: number): number {
  if (labels.length !== N) throw new Error(`${fn}: labels have ${labels.length} values, expected [N] = ${N} (one per hidden state)`);
  let count = 0;
  for (let i = 0; i < N; i++) {
    const y = labels[i];
    if (y < -1 || y >= V) throw new Error(`${fn}: labels[${i}] = ${y} is outside [0, ${V}) (−1 = masked)`);
    if (y >= 0) count++;
  }
  return count;
}

const WEIGHT_DTYPES = ['f32', 'f16', 'bf16'] as const;

// hS [N, C], wS [Vpad, C], (hT [N, Ct], wT [Vpad_t, Ct] | sparse [N, k]), labels [N]
//   → loss, soft, hard [1], dhS [N, C]; dwS [Vpad, C] += dL/dwS when given.
export function fusedDistillLoss(rt: Runtime, a: FusedLossArgs): FusedLossResult {
  const fn = 'fusedDistillLoss';
  const c = resolveLoss(fn, a);
  if (a.hS.dtype !== 'f32' || a.hS.shape.length !== 2) throw new Error(`${fn}: student hidden hS ${a.hS.describe()} must be an f32 [N, C]`);
  const [N, C] = a.hS.shape;
  const [Vpad] = requireMatrix(fn, 'student head wS', a.wS, WEIGHT_DTYPES, undefined, C);
  const V = a.logitVocab;
  if (!Number.isInteger(V) || V < 1 || V > Vpad) throw new Error(`${fn}: logitVocab ${V} must be in [1, ${Vpad}] (student head ${a.wS.describe()})`);
  if (!Number.isInteger(a.chunkTokens) || a.chunkTokens < 1) throw new Error(`${fn}: chunkTokens ${a.chunkTokens} must be a positive whole number`);
  if (a.dwS) requireMatrix(fn, 'dwS', a.dwS, ['f32'], Vpad, C);

  // Where the teacher's distribution comes from.
  const online = c.soft && !!(a.hT || a.wT);
  if (c.soft && a.hT && a.sparse) throw new Error(`${fn}: give either teacher hidden states (hT, wT) or sparse targets, not both`);
  if (c.soft && !online && !a.sparse) {
    throw new Error(`${fn}: divergence '${a.divergence}' needs the teacher: hT and wT (online) or sparse targets (offline); use 'none' for plain cross-entropy`);
  }
  let Ct = 0;
  let VpadT = 0;
  if (online) {
    if (!a.hT || !a.wT) throw new Error(`${fn}: online distillation needs both teacher hidden states hT and head wT`);
    [, Ct] = requireMatrix(fn, 'teacher hidden hT', a.hT, ['f32'], N);
    [VpadT] = requireMatrix(fn, 'teacher head wT', a.wT, WEIGHT_DTYPES, undefined, Ct);
    if (V > VpadT) throw new Error(`${fn}: logitVocab ${V} exceeds the teacher head ${a.wT.describe()}`);
  }
  const owned: Tensor[] = []; // uploaded here, disposed here
  let sparse: SparseTargetTensors | null = null;
  if (c.soft && !online) {
    const s = a.sparse!;
    if (s.ids instanceof Tensor) sparse = s as SparseTargetTensors;
    else {
      sparse = uploadSparseTargets(rt, s as SparseTargetArrays, N, V);
      owned.push(sparse.ids, sparse.logprobs);
    }
  }
  let labels: Tensor;
  let count = a.count;
  if (a.labels instanceof Int32Array) {
    const counted = hostLabels(fn, a.labels, N, V);
    count ??= counted;
    labels = rt.upload(a.labels, [N], 'i32', 'labels');
    owned.push(labels);
  } else {
    labels = a.labels;
    if (labels.dtype !== 'i32' || labels.size !== N) throw new Error(`${fn}: labels ${labels.describe()} should be [${N}]:i32`);
    if (count === undefined) throw new Error(`${fn}: count is required with GPU labels (the number of labels ≥ 0 over the step)`);
  }
  const config: RowLossConfig = { divergence: a.divergence, temperature: a.temperature, alpha: a.alpha, beta: a.beta, lambda: a.lambda };

  const parts = rt.empty([N, 2], 'f32', 'loss.parts');
  const dhS = rt.empty([N, C], 'f32', 'dhS');
  const chunk = Math.max(1, Math.min(a.chunkTokens, N));
  const hs = rt.empty([chunk, C], 'f32', 'loss.hs_chunk');
  const logits = rt.empty([chunk, Vpad], 'f32', 'loss.logits_chunk'); // becomes dL/dlogits
  const dhs = rt.empty([chunk, C], 'f32', 'loss.dhs_chunk');
  const ht = online ? rt.empty([chunk, Ct], 'f32', 'loss.ht_chunk') : null;
  const tlogits = online ? rt.empty([chunk, VpadT], 'f32', 'loss.teacher_logits_chunk') : null;

  for (let start = 0; start < N; start += chunk) {
    const rows = Math.min(chunk, N - start);
    const hsR = prefixRows(hs, rows);
    const zR = prefixRows(logits, rows);
    rt.copy(a.hS, hsR, start * C * 4, 0, rows * C * 4);
    matmul(rt, hsR, a.wS, { transB: true, out: zR }); // [rows, Vpad] = hS[chunk]·wSᵀ
    const common = { student: zR, labels, parts, rowOffset: start, vocab: V, count, config };
    if (online) {
      const htR = prefixRows(ht!, rows);
      const ztR = prefixRows(tlogits!, rows);
      rt.copy(a.hT!, htR, start * Ct * 4, 0, rows * Ct * 4);
      matmul(rt, htR, a.wT!, { transB: true, out: ztR }); // [rows, Vpad_t]
      distillLossRows(rt, { ...common, teacher: ztR });
    } else if (sparse) {
      sparseLossRows(rt, { ...common, targets: sparse });
    } else {
      distillLossRows(rt, { ...common, teacher: null });
    }
    // logits = hS·wSᵀ  →  dhS = dlogits·wS,  dwS += dlogitsᵀ·hS
    const dhsR = prefixRows(dhs, rows);
    matmul(rt, zR, a.wS, { out: dhsR });
    rt.copy(dhsR, dhS, 0, start * C * 4, rows * C * 4);
    if (a.dwS) matmul(rt, zR, hsR, { transA: true, accumulate: true, out: a.dwS });
  }

  const totals = distillLossTotals(rt, parts, config, count);
  for (const t of [hs, logits, dhs, ht, tlogits, ...owned]) t?.dispose();
  if (a.perToken) return { ...totals, dhS, parts };
  parts.dispose();
  return { ...totals, dhS };
}

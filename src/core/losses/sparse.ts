/**
 * CPU reference of the distillation loss against cached sparse teacher targets (DESIGN.md):
 * per token the teacher gives {ids[k], logprobs[k]} at T = 1. The loss works on k + 1 bins — the k
 * ids plus a tail holding everything else — tempered as mass^(1/T), renormalised.
 */
import { divergence, throughSoftmax } from './divergence.ts';
import { checkFinite, checkLabel, checkLength, checkMask, checkShape } from './inputs.ts';
import { checkOptions, type LossOptions, type LossResult } from './options.ts';
import { lossResult } from './result.ts';
import { logSoftmax, logSumExp } from './softmax.ts';

export interface SparseTeacherTargets {
  k: number;
  ids: ArrayLike<number>; // [N, k] token ids, distinct per token
  logprobs: ArrayLike<number>; // [N, k] teacher log-probabilities at T = 1
}

export interface SparseLossInput {
  tokens: number; // N
  vocab: number; // V
  student: ArrayLike<number>; // [N, V] student logits z_s
  targets: SparseTeacherTargets;
  labels: ArrayLike<number>; // [N]
  mask?: ArrayLike<number>; // [N] 1 = counts
}

/** The k + 1 bin log-masses of one token; the tail bin is absent when the ids cover the whole vocabulary. */
export interface SparseBins {
  teacher: Float64Array; // [k (+1)] log q
  student: Float64Array; // [k (+1)] log p
  logTail: number; // logsumexp of z_s over ids not listed (−∞ when none)
}

export function sparseBins(student: ArrayLike<number>, row: number, V: number, ids: ArrayLike<number>, lps: ArrayLike<number>, at: number, k: number, seen: Uint8Array): SparseBins {
  const tail = k < V;
  const n = tail ? k + 1 : k;
  const teacher = new Float64Array(n);
  const studentBins = new Float64Array(n);
  const lse = logSumExp(student, row, V);
  let qSum = 0;
  for (let j = 0; j < k; j++) {
    const id = ids[at + j];
    seen[id] = 1;
    teacher[j] = lps[at + j];
    qSum += Math.exp(lps[at + j]);
    studentBins[j] = student[row + id] - lse;
  }
  // log p_tail = logsumexp(z_s over unlisted ids) − logsumexp(z_s): no cancellation from 1 − Σp.
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (!seen[v]) max = Math.max(max, student[row + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) if (!seen[v]) sum += Math.exp(student[row + v] - max);
  const logTail = max === -Infinity ? -Infinity : max + Math.log(sum);
  if (tail) {
    const qTail = Math.max(0, 1 - qSum);
    teacher[k] = qTail > 0 ? Math.log(qTail) : -Infinity;
    studentBins[k] = logTail - lse;
  }
  for (let j = 0; j < k; j++) seen[ids[at + j]] = 0;
  return { teacher, student: studentBins, logTail };
}

export function sparseDistillLoss(input: SparseLossInput, options: LossOptions): LossResult {
  const { tokens: N, vocab: V, student, targets, labels, mask } = input;
  const { k, ids, logprobs } = targets;
  const params = checkOptions(options);
  checkShape(N, V);
  if (!Number.isInteger(k) || k < 1 || k > V) throw new Error(`teacher targets: k = ${k} must be in [1, ${V}]`);
  checkLength('student logits', student, N * V, '[tokens, vocab]');
  checkFinite('student logits', student, V);
  checkLength('teacher ids', ids, N * k, '[tokens, k]');
  checkLength('teacher logprobs', logprobs, N * k, '[tokens, k]');
  checkLength('labels', labels, N, '[tokens]');
  const count = checkMask(mask, N);
  const T = options.temperature;
  const soft = options.divergence !== 'none';
  const alpha = soft ? options.alpha : 0;
  const grad = new Float64Array(N * V);
  const perSoft = new Float64Array(N);
  const perHard = new Float64Array(N);
  const seen = new Uint8Array(V);
  let softSum = 0;
  let hardSum = 0;
  for (let t = 0; t < N; t++) {
    if (mask && mask[t] === 0) continue;
    const row = t * V;
    const y = checkLabel(labels, t, V);
    const scale = 1 / count;
    const logQ1 = logSoftmax(student, row, V);
    perHard[t] = -logQ1[y];
    if (alpha < 1) {
      for (let v = 0; v < V; v++) grad[row + v] += (1 - alpha) * scale * Math.exp(logQ1[v]);
      grad[row + y] -= (1 - alpha) * scale;
    }
    if (soft) {
      checkTargets(ids, logprobs, t, k, V, seen);
      const bins = sparseBins(student, row, V, ids, logprobs, t * k, k, seen);
      const logP = logSoftmax(bins.teacher, 0, bins.teacher.length, T); // tempered: ∝ mass^(1/T)
      const logQ = logSoftmax(bins.student, 0, bins.student.length, T);
      const d = divergence(options.divergence as Exclude<typeof options.divergence, 'none'>, logP, logQ, params);
      perSoft[t] = T * T * d.value;
      if (alpha > 0) {
        // u_j = ∂(α T² D / count)/∂(log p_j) for the untempered bin masses.
        const u = new Float64Array(logQ.length);
        throughSoftmax(d.r, logQ, T, alpha * T * T * scale, u, 0);
        // log p_j = z[id_j] − lse(z)      → ∂/∂z_v = [v = id_j] − p_v
        // log p_tail = lse_tail(z) − lse(z) → ∂/∂z_v = [v unlisted] · exp(z_v − lse_tail) − p_v
        // Σ_j u_j = 0 (a softmax gradient), so the −p_v terms cancel.
        for (let j = 0; j < k; j++) grad[row + ids[t * k + j]] += u[j];
        if (k < V) {
          for (let j = 0; j < k; j++) seen[ids[t * k + j]] = 1;
          for (let v = 0; v < V; v++) if (!seen[v]) grad[row + v] += u[k] * Math.exp(student[row + v] - bins.logTail);
          for (let j = 0; j < k; j++) seen[ids[t * k + j]] = 0;
        }
      }
    }
    softSum += perSoft[t];
    hardSum += perHard[t];
  }
  return lossResult(softSum, hardSum, count, alpha, soft, grad, perSoft, perHard);
}

function checkTargets(ids: ArrayLike<number>, logprobs: ArrayLike<number>, t: number, k: number, V: number, seen: Uint8Array): void {
  for (let j = 0; j < k; j++) {
    const id = ids[t * k + j];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`teacher ids: id ${id} at [${t}, ${j}] is outside [0, ${V})`);
    if (seen[id]) throw new Error(`teacher ids: id ${id} appears twice in token ${t}`);
    seen[id] = 1;
    const lp = logprobs[t * k + j];
    if (Number.isNaN(lp) || lp === Infinity) throw new Error(`teacher logprobs: ${lp} at [${t}, ${j}] is not a log-probability`);
  }
  for (let j = 0; j < k; j++) seen[ids[t * k + j]] = 0;
}

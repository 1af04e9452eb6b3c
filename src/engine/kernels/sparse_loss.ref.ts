/**
 * Float64 CPU reference of the sparse-target row loss (sparse_loss.wgsl): k + 1 bins (the listed ids
 * and a tail), tempered as mass^(1/T), D on the bins, hard CE on the full row; ids < 0 are unused
 * slots, labels −1 masked, the first `vocab` columns of each row counted.
 */
import type { RowLossConfig } from './distill_loss.ts';
import { divergenceRef, logSoftmaxRow, type RowLossRef } from './distill_loss.ref.ts';

function logSumExp(xs: readonly number[]): number {
  const m = Math.max(...xs);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0));
}

/** log softmax(x / T) over entries that are not −∞ (those stay −∞). */
function temper(x: Float64Array, T: number): Float64Array {
  const lse = logSumExp(Array.from(x, (v) => v / T));
  return x.map((v) => (v === -Infinity ? -Infinity : v / T - lse));
}

// student [R, Ss], ids/logprobs [R, k], labels [R] → parts [R, 2], grad [R, Ss], totals.
export function sparseLossRowsRef(
  student: ArrayLike<number>, strideS: number,
  ids: ArrayLike<number>, logprobs: ArrayLike<number>, k: number,
  labels: ArrayLike<number>, vocab: number, count: number, config: RowLossConfig,
): RowLossRef {
  const R = labels.length;
  const soft = config.divergence !== 'none';
  const alpha = soft ? config.alpha : 0;
  const T = config.temperature;
  const scale = count === 0 ? 0 : 1 / count;
  const parts = new Float64Array(R * 2);
  const grad = new Float64Array(R * strideS);
  let softSum = 0;
  let hardSum = 0;
  for (let row = 0; row < R; row++) {
    const y = labels[row];
    if (y < 0) continue;
    const g = row * strideS;
    const z = (v: number) => student[g + v];
    const l1 = logSoftmaxRow(student, g, vocab, 1);
    const lse = z(0) - l1[0];
    parts[2 * row + 1] = -l1[y];
    for (let v = 0; v < vocab; v++) grad[g + v] = (1 - alpha) * scale * (Math.exp(l1[v]) - (v === y ? 1 : 0));
    if (soft) {
      const listed = new Set<number>();
      for (let j = 0; j < k; j++) if (ids[row * k + j] >= 0) listed.add(ids[row * k + j]);
      const unlisted: number[] = [];
      for (let v = 0; v < vocab; v++) if (!listed.has(v)) unlisted.push(v);
      const lseTail = logSumExp(unlisted.map(z));
      // bins 0..k−1 the slots, k the tail; log masses at T = 1, −∞ = no mass
      const lt = new Float64Array(k + 1).fill(-Infinity);
      const ls = new Float64Array(k + 1).fill(-Infinity);
      let qSum = 0;
      for (let j = 0; j < k; j++) {
        const id = ids[row * k + j];
        if (id < 0) continue;
        lt[j] = logprobs[row * k + j];
        qSum += Math.exp(lt[j]);
        ls[j] = z(id) - lse;
      }
      if (unlisted.length > 0) {
        lt[k] = Math.log(Math.max(0, 1 - qSum));
        ls[k] = lseTail - lse;
      }
      const { D, dz: u } = divergenceRef(config, temper(lt, T), temper(ls, T), T); // u = ∂D/∂(log p_bin)
      parts[2 * row] = T * T * D;
      const w = alpha * T * T * scale;
      // log p_j = z[id_j] − lse; log p_tail = lse_tail − lse; the −p1_v terms cancel as Σu = 0.
      for (let j = 0; j < k; j++) if (ids[row * k + j] >= 0) grad[g + ids[row * k + j]] += w * u[j];
      for (const v of unlisted) grad[g + v] += w * u[k] * Math.exp(z(v) - lseTail);
    }
    softSum += parts[2 * row];
    hardSum += parts[2 * row + 1];
  }
  const s = softSum * scale;
  const h = hardSum * scale;
  return { parts, grad, soft: s, hard: h, loss: alpha * s + (1 - alpha) * h };
}

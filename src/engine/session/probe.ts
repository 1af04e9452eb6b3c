import { logSoftmax as logSoftmaxAt } from '../../core/losses/softmax.ts';
import type { ProbeDistribution, ProbePosition } from '../../core/session.ts';

/** log-softmax of a whole logits row / T, in float64 (the loss reference's). */
export function logSoftmax(row: ArrayLike<number>, T: number): Float64Array {
  return logSoftmaxAt(row, 0, row.length, T);
}

/** KL(p ‖ q) from log-probabilities. */
export function klFromLog(lp: Float64Array, lq: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    if (p > 0) kl += p * (lp[i] - lq[i]);
  }
  return kl;
}

export function distribution(lp: Float64Array, topK: number, decode: (id: number) => string): ProbeDistribution {
  const idx = Array.from({ length: lp.length }, (_, i) => i).sort((a, b) => lp[b] - lp[a]).slice(0, topK);
  let entropy = 0;
  for (let i = 0; i < lp.length; i++) {
    const p = Math.exp(lp[i]);
    if (p > 0) entropy -= p * lp[i];
  }
  const top = idx.map((id) => ({ id, token: decode(id), logprob: lp[id] }));
  const mass = top.reduce((s, e) => s + Math.exp(e.logprob), 0);
  return { top, tailMass: Math.max(0, 1 - mass), entropy };
}

/**
 * What the temperature view shows for one position: both models' top-k at each temperature, the
 * tail mass beyond them, entropies, and KL(p_t^T ‖ p_s^T).
 */
export function probePosition(
  position: number, teacherRow: ArrayLike<number>, studentRow: ArrayLike<number>,
  temperatures: number[], topK: number, decode: (id: number) => string, next?: number,
): ProbePosition {
  const teacher: ProbeDistribution[] = [];
  const student: ProbeDistribution[] = [];
  const kl: number[] = [];
  for (const T of temperatures) {
    const lt = logSoftmax(teacherRow, T);
    const ls = logSoftmax(studentRow, T);
    teacher.push(distribution(lt, topK, decode));
    student.push(distribution(ls, topK, decode));
    kl.push(klFromLog(lt, ls));
  }
  return { position, next: next === undefined ? undefined : { id: next, token: decode(next) }, teacher, student, kl };
}

/**
 * Float64 CPU reference of the distillation row loss (distill_loss.wgsl): per token
 * α·T²·D(p_t^T ‖ p_s^T) + (1 − α)·CE(y, p_s^1), label −1 = masked, the first `vocab` columns of each
 * row counted, parts and gradient as the kernel writes them.
 */
import type { RowLossConfig } from './distill_loss.ts';

export interface RowLossRef {
  parts: Float64Array; // [R, 2] (T²·D, CE), zeros where masked
  grad: Float64Array; // [R, strideS] dL/dz_s (scaled by 1/count), zero in padded columns
  soft: number; // Σ T²·D / count
  hard: number; // Σ CE / count
  loss: number; // α·soft + (1 − α)·hard (hard alone for 'none')
}

/** log softmax(x[off .. off + n) / T) in float64. */
export function logSoftmaxRow(x: ArrayLike<number>, off: number, n: number, T: number): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, x[off + i] / T);
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(x[off + i] / T - m);
  const lse = m + Math.log(s);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x[off + i] / T - lse;
  return out;
}

function logMix(w: number, la: number, lb: number): number {
  if (w <= 0) return lb;
  if (w >= 1) return la;
  const x = Math.log(w) + la;
  const y = Math.log(1 - w) + lb;
  const m = Math.max(x, y);
  return m === -Infinity ? -Infinity : m + Math.log(Math.exp(x - m) + Math.exp(y - m));
}

/** p·(log p − log q), 0 where p = 0. */
function pLogRatio(lp: number, lq: number): number {
  return lp === -Infinity ? 0 : Math.exp(lp) * (lp - lq);
}

/**
 * D(p ‖ q) over log-probabilities and its gradient with respect to the *logits* z of q = softmax(z/T):
 * dD/dz_j = (r_j − q_j Σr)/T with r_j = ∂D/∂log q_j. Bins dead on both sides (−∞, −∞) add nothing.
 */
export function divergenceRef(config: RowLossConfig, lp: Float64Array, lq: Float64Array, T: number): { D: number; dz: Float64Array } {
  const n = lp.length;
  const beta = config.beta ?? 0.5;
  const lambda = config.lambda ?? 0.1;
  let kind = config.divergence;
  if (kind === 'gjsd' && beta === 0) kind = 'forward-kl';
  if (kind === 'gjsd' && beta === 1) kind = 'reverse-kl';
  const r = new Float64Array(n);
  let D = 0;
  for (let i = 0; i < n; i++) {
    const [a, b] = [lp[i], lq[i]];
    if (a === -Infinity && b === -Infinity) continue;
    const p = Math.exp(a);
    const q = Math.exp(b);
    switch (kind) {
      case 'forward-kl':
        D += pLogRatio(a, b);
        r[i] = -p;
        break;
      case 'reverse-kl':
        D += pLogRatio(b, a);
        r[i] = q === 0 ? 0 : q * (b - a + 1);
        break;
      case 'gjsd': {
        const lm = logMix(beta, a, b);
        D += beta * pLogRatio(a, lm) + (1 - beta) * pLogRatio(b, lm);
        r[i] = (1 - beta) * pLogRatio(b, lm);
        break;
      }
      case 'skew-kl': {
        const lm = logMix(lambda, a, b);
        D += pLogRatio(a, lm);
        r[i] = p === 0 ? 0 : -(1 - lambda) * Math.exp(a + b - lm);
        break;
      }
      case 'skew-reverse-kl': {
        const lm = logMix(lambda, b, a);
        D += pLogRatio(b, lm);
        r[i] = q === 0 ? 0 : q * (b - lm + 1 - lambda * Math.exp(b - lm));
        break;
      }
      case 'tvd':
        D += 0.5 * Math.abs(p - q);
        r[i] = 0.5 * q * Math.sign(q - p);
        break;
      case 'none':
        break;
    }
  }
  let sumR = 0;
  for (let i = 0; i < n; i++) sumR += r[i];
  const dz = new Float64Array(n);
  for (let i = 0; i < n; i++) dz[i] = (r[i] - Math.exp(lq[i]) * sumR) / T;
  return { D, dz };
}

// student [R, Ss], teacher [R, St] | null, labels [R] → parts, grad [R, Ss], totals.
export function distillLossRowsRef(
  student: ArrayLike<number>, strideS: number,
  teacher: ArrayLike<number> | null, strideT: number,
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
    // CE = −log softmax(z)[y];  ∂/∂z = softmax(z) − onehot(y)
    const l1 = logSoftmaxRow(student, g, vocab, 1);
    parts[2 * row + 1] = -l1[y];
    for (let v = 0; v < vocab; v++) grad[g + v] = (1 - alpha) * scale * (Math.exp(l1[v]) - (v === y ? 1 : 0));
    if (soft) {
      const lp = logSoftmaxRow(teacher!, row * strideT, vocab, T);
      const lq = logSoftmaxRow(student, g, vocab, T);
      const { D, dz } = divergenceRef(config, lp, lq, T);
      parts[2 * row] = T * T * D;
      for (let v = 0; v < vocab; v++) grad[g + v] += alpha * T * T * scale * dz[v];
    }
    softSum += parts[2 * row];
    hardSum += parts[2 * row + 1];
  }
  const s = softSum * scale;
  const h = hardSum * scale;
  return { parts, grad, soft: s, hard: h, loss: alpha * s + (1 - alpha) * h };
}

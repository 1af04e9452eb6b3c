/**
 * Divergences between two distributions given as log-probabilities (teacher p, student q, both
 * already tempered), with the gradient with respect to the student's log-probabilities.
 */
import { logMix } from './softmax.ts';

export type DivergenceKind = 'forward-kl' | 'reverse-kl' | 'gjsd' | 'skew-kl' | 'skew-reverse-kl' | 'tvd';

export interface DivergenceParams {
  beta: number; // gjsd
  lambda: number; // skew-kl, skew-reverse-kl
}

export interface DivergenceValue {
  value: number;
  /**
   * r_i = q_i · ∂D/∂q_i = ∂D/∂(log q_i) with the q_i treated as free. The gradient through a
   * softmax q = softmax(z/T) is then ∂D/∂z = (r − q·Σr) / T (see `throughSoftmax`).
   */
  r: Float64Array;
}

/** p·(log p − log q) with 0·log 0 = 0. */
function plogpq(lp: number, lq: number): number {
  return lp === -Infinity ? 0 : Math.exp(lp) * (lp - lq);
}

/** D(p ‖ q) for one token; logP = teacher, logQ = student, both length n. */
export function divergence(kind: DivergenceKind, logP: Float64Array, logQ: Float64Array, params: DivergenceParams): DivergenceValue {
  const n = logQ.length;
  const r = new Float64Array(n);
  let value = 0;
  switch (kind) {
    case 'forward-kl':
      // D = Σ p (log p − log q);  ∂D/∂q = −p/q  →  r = −p
      for (let i = 0; i < n; i++) {
        value += plogpq(logP[i], logQ[i]);
        r[i] = -Math.exp(logP[i]);
      }
      return { value, r };
    case 'reverse-kl':
      // D = Σ q (log q − log p);  ∂D/∂q = log q − log p + 1  →  r = q (log q − log p + 1)
      for (let i = 0; i < n; i++) {
        value += plogpq(logQ[i], logP[i]);
        r[i] = logQ[i] === -Infinity ? 0 : Math.exp(logQ[i]) * (logQ[i] - logP[i] + 1);
      }
      return { value, r };
    case 'gjsd': {
      const { beta } = params;
      // TRL's GKD: the endpoints are the plain KLs, not the (vanishing) limits of the mixture form.
      if (beta === 0) return divergence('forward-kl', logP, logQ, params);
      if (beta === 1) return divergence('reverse-kl', logP, logQ, params);
      // M = β p + (1 − β) q;  D = β KL(p ‖ M) + (1 − β) KL(q ‖ M)
      // ∂D/∂q = (1 − β) log(q / M)  (the −p/M and −q/M terms cancel against +1)  →  r = (1 − β) q log(q / M)
      for (let i = 0; i < n; i++) {
        const logM = logMix(beta, logP[i], 1 - beta, logQ[i]);
        value += beta * plogpq(logP[i], logM) + (1 - beta) * plogpq(logQ[i], logM);
        r[i] = (1 - beta) * plogpq(logQ[i], logM);
      }
      return { value, r };
    }
    case 'skew-kl': {
      const { lambda } = params;
      // m = λ p + (1 − λ) q;  D = KL(p ‖ m);  ∂D/∂q = −(1 − λ) p / m  →  r = −(1 − λ) p q / m
      for (let i = 0; i < n; i++) {
        const logM = logMix(lambda, logP[i], 1 - lambda, logQ[i]);
        value += plogpq(logP[i], logM);
        r[i] = logP[i] === -Infinity ? 0 : -(1 - lambda) * Math.exp(logP[i] + logQ[i] - logM);
      }
      return { value, r };
    }
    case 'skew-reverse-kl': {
      const { lambda } = params;
      // m = λ q + (1 − λ) p;  D = KL(q ‖ m);  ∂D/∂q = log(q/m) + 1 − λ q / m  →  r = q (log(q/m) + 1 − λ q/m)
      for (let i = 0; i < n; i++) {
        const logM = logMix(lambda, logQ[i], 1 - lambda, logP[i]);
        value += plogpq(logQ[i], logM);
        r[i] = logQ[i] === -Infinity ? 0 : Math.exp(logQ[i]) * (logQ[i] - logM + 1 - lambda * Math.exp(logQ[i] - logM));
      }
      return { value, r };
    }
    case 'tvd':
      // D = ½ Σ |p − q|;  ∂D/∂q = ½ sign(q − p)  →  r = ½ q sign(q − p)
      for (let i = 0; i < n; i++) {
        const p = Math.exp(logP[i]);
        const q = Math.exp(logQ[i]);
        value += 0.5 * Math.abs(p - q);
        r[i] = 0.5 * q * Math.sign(q - p);
      }
      return { value, r };
  }
}

/**
 * Chain r = ∂D/∂(log q) through log q = log softmax(z / T):  ∂D/∂z = (r − q·Σr) / T, scaled by `scale`
 * and added into out[offset ..].
 */
export function throughSoftmax(r: Float64Array, logQ: Float64Array, T: number, scale: number, out: Float64Array, offset: number): void {
  let sum = 0;
  for (let i = 0; i < r.length; i++) sum += r[i];
  for (let i = 0; i < r.length; i++) out[offset + i] += (scale * (r[i] - Math.exp(logQ[i]) * sum)) / T;
}

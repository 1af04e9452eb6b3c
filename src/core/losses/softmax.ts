/** Float64 softmax helpers for the loss reference. */

/** log Σ exp(x[offset + i] / T) over n entries. */
export function logSumExp(x: ArrayLike<number>, offset: number, n: number, T = 1): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, x[offset + i] / T);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(x[offset + i] / T - max);
  return max + Math.log(sum);
}

/** log softmax(x[offset .. offset + n) / T) as a new Float64Array [n]. */
export function logSoftmax(x: ArrayLike<number>, offset: number, n: number, T = 1): Float64Array {
  const lse = logSumExp(x, offset, n, T);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x[offset + i] / T - lse;
  return out;
}

/** log of a mixture a·exp(la) + b·exp(lb), without leaving log space. */
export function logMix(a: number, la: number, b: number, lb: number): number {
  const x = a > 0 ? Math.log(a) + la : -Infinity;
  const y = b > 0 ? Math.log(b) + lb : -Infinity;
  const m = Math.max(x, y);
  return m === -Infinity ? -Infinity : m + Math.log(Math.exp(x - m) + Math.exp(y - m));
}

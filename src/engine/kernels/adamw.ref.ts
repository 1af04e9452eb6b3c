/**
 * CPU reference of one optimizer step as torch does it, in float64: clip_grad_norm_ over all gradients,
 * a step skipped entirely when the norm is not finite (t unchanged), then torch.optim.AdamW per parameter.
 */
export interface AdamWRefParam {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  weightDecay: number;
}

export interface AdamWRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** ≤ 0: no clipping. */
  maxNorm: number;
}

/** Updates `params` in place; returns the (pre-clip) gradient norm, the new t, and whether it skipped. */
export function adamwStepRef(
  params: readonly AdamWRefParam[], grads: readonly ArrayLike<number>[], step: number, o: AdamWRefOptions,
): { norm: number; step: number; skipped: boolean } {
  let sumSq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sumSq += g[i] * g[i];
  const norm = Math.sqrt(sumSq);
  if (!Number.isFinite(norm)) return { norm, step, skipped: true };
  const clip = o.maxNorm > 0 ? Math.min(1, o.maxNorm / (norm + 1e-6)) : 1;
  const t = step + 1;
  const bc1 = 1 - o.beta1 ** t;
  const bc2 = 1 - o.beta2 ** t;
  params.forEach((q, j) => {
    const g = grads[j];
    for (let i = 0; i < q.p.length; i++) {
      const gi = g[i] * clip;
      q.p[i] *= 1 - o.lr * q.weightDecay;
      q.m[i] = o.beta1 * q.m[i] + (1 - o.beta1) * gi;
      q.v[i] = o.beta2 * q.v[i] + (1 - o.beta2) * gi * gi;
      q.p[i] -= (o.lr / bc1) * q.m[i] / (Math.sqrt(q.v[i]) / Math.sqrt(bc2) + o.eps);
    }
  });
  return { norm, step: t, skipped: false };
}

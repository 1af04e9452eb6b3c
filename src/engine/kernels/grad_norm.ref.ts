/** CPU reference of `gradNorm`: Σ over all tensors of Σ g² in float64, and whether any value is NaN/Inf. */
export function gradNormRef(grads: readonly ArrayLike<number>[]): { sumSq: number; nonFinite: boolean } {
  let sumSq = 0;
  let nonFinite = false;
  for (const g of grads) {
    for (let i = 0; i < g.length; i++) {
      if (!Number.isFinite(g[i])) nonFinite = true;
      else sumSq += g[i] * g[i];
    }
  }
  return { sumSq: nonFinite ? NaN : sumSq, nonFinite };
}

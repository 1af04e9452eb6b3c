/** CPU reference for RMSNorm, float64: y = x · rstd · w, rstd = 1 / sqrt(mean(x²) + eps). */
export function rmsnormForwardRef(x: ArrayLike<number>, w: ArrayLike<number>, N: number, C: number, eps: number): { y: Float64Array; rstd: Float64Array } {
  const y = new Float64Array(N * C);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) y[n * C + c] = w[c] * x[n * C + c] * r;
  }
  return { y, rstd };
}

/** dx_j = r·dy_j·w_j − x_j·r³/C·Σ_c dy_c·w_c·x_c ;  dw_c = Σ_n dy_nc·x_nc·r_n. */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, N: number, C: number, eps: number,
): { dx: Float64Array; dw: Float64Array } {
  const { rstd } = rmsnormForwardRef(x, w, N, C, eps);
  const dx = new Float64Array(N * C);
  const dw = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let dot = 0;
    for (let c = 0; c < C; c++) dot += dy[n * C + c] * w[c] * x[n * C + c];
    for (let c = 0; c < C; c++) {
      const i = n * C + c;
      dx[i] = r * dy[i] * w[c] - (x[i] * r ** 3 * dot) / C;
      dw[c] += dy[i] * x[i] * r;
    }
  }
  return { dx, dw };
}

/** CPU reference: C[b] = alpha · op(A[b]) · op(B[b]) (+ C), plain loops in float64. */
export function matmulRef(
  a: ArrayLike<number>, b: ArrayLike<number>, batch: number, M: number, N: number, K: number,
  opts: { transA?: boolean; transB?: boolean; bBatched?: boolean; alpha?: number; c?: ArrayLike<number> } = {},
): Float32Array {
  const out = new Float32Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const ao = z * M * K;
    const bo = opts.bBatched === false ? 0 : z * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = opts.transA ? a[ao + k * M + m] : a[ao + m * K + k];
          const bv = opts.transB ? b[bo + n * K + k] : b[bo + k * N + n];
          s += av * bv;
        }
        const i = z * M * N + m * N + n;
        out[i] = (opts.alpha ?? 1) * s + (opts.c ? opts.c[i] : 0);
      }
    }
  }
  return out;
}

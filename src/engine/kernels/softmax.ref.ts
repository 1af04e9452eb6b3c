/** CPU references for the row softmax family, float64 with max subtraction. z = x / T per row of [N, V]. */

export function rowLogSumExpRef(x: ArrayLike<number>, N: number, V: number, T = 1): Float64Array {
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, x[n * V + v] / T);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(x[n * V + v] / T - m);
    out[n] = m + Math.log(s);
  }
  return out;
}

export function logSoftmaxRef(x: ArrayLike<number>, N: number, V: number, T = 1): Float64Array {
  const lse = rowLogSumExpRef(x, N, V, T);
  return Float64Array.from({ length: N * V }, (_, i) => x[i] / T - lse[Math.floor(i / V)]);
}

export function softmaxRef(x: ArrayLike<number>, N: number, V: number, T = 1): Float64Array {
  return logSoftmaxRef(x, N, V, T).map(Math.exp);
}

/** For y = softmax(z): dx = y · (dy − Σ dy·y) / T (row-wise). */
export function softmaxBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, N: number, V: number, T = 1): Float64Array {
  const y = softmaxRef(x, N, V, T);
  const dx = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    let dot = 0;
    for (let v = 0; v < V; v++) dot += dy[n * V + v] * y[n * V + v];
    for (let v = 0; v < V; v++) dx[n * V + v] = (y[n * V + v] * (dy[n * V + v] - dot)) / T;
  }
  return dx;
}

/** For y = log_softmax(z): dx = (dy − softmax(z) · Σ dy) / T (row-wise). */
export function logSoftmaxBackwardRef(dy: ArrayLike<number>, x: ArrayLike<number>, N: number, V: number, T = 1): Float64Array {
  const p = softmaxRef(x, N, V, T);
  const dx = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    let sum = 0;
    for (let v = 0; v < V; v++) sum += dy[n * V + v];
    for (let v = 0; v < V; v++) dx[n * V + v] = (dy[n * V + v] - p[n * V + v] * sum) / T;
  }
  return dx;
}

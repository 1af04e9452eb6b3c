/**
 * The one thing every benchmarked implementation provides: run N iterations and wait for the GPU,
 * plus one read back of the result so the suite can check that every peer computed the same thing.
 */
export interface Timed {
  /** Encodes `iters` iterations and resolves once the GPU has finished them (no read back). */
  run(iters: number): Promise<void>;
  /** The last iteration's result, read back once for the correctness check (not timed). */
  read(): Promise<Float32Array>;
  dispose(): void;
}

/** Deterministic uniform values in [-1, 1) (an LCG: the same data for every peer and every run). */
export function uniform(n: number, seed: number, scale = 1): Float32Array {
  let s = (seed * 2654435761) >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31 - 1) * scale;
  }
  return out;
}

/** Bᵀ of a row-major [rows, cols] matrix: [cols, rows]. */
export function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}

/**
 * Checks C = A · Wᵀ (A [M, K], W [N, K]) on `samples` entries against a float64 dot product:
 * returns max|c − ref| / max|ref| over them. Sampling keeps the check cheap at the real shapes.
 */
export function sampledMatmulError(c: Float32Array, a: Float32Array, w: Float32Array, M: number, K: number, N: number, samples = 256): number {
  if (c.length < M * N) throw new Error(`result has ${c.length} values, expected M·N = ${M * N}`);
  let s = 12345;
  let num = 0, den = 0;
  for (let t = 0; t < samples; t++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const i = s % M;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % N;
    let ref = 0;
    for (let k = 0; k < K; k++) ref += a[i * K + k] * w[j * K + k];
    num = Math.max(num, Math.abs(c[i * N + j] - ref));
    den = Math.max(den, Math.abs(ref));
  }
  return num / den;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** CPU references for elementwise.ts: plain loops, float64 accumulation. */
type Vec = ArrayLike<number>;

export function addRef(a: Vec, b: Vec, alpha = 1): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] + alpha * b[i]);
}

export function mulRef(a: Vec, b: Vec): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] * b[i]);
}

export function scaleRef(x: Vec, s: number): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => s * x[i]);
}

/** x [N, C] + bias [C]. */
export function addBiasRef(x: Vec, bias: Vec): Float64Array {
  const C = bias.length;
  return Float64Array.from({ length: x.length }, (_, i) => x[i] + bias[i % C]);
}

/** Σ_rows x for x [R, C] → [C]. */
export function columnSumRef(x: Vec, C: number): Float64Array {
  const out = new Float64Array(C);
  for (let i = 0; i < x.length; i++) out[i % C] += x[i];
  return out;
}

export function sumSquaresRef(x: Vec): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

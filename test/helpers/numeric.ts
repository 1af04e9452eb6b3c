/** Seeded random numbers and comparisons for numeric tests. */
import { rng } from '../../src/core/random.ts';

export { rng };

export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

export function randInt(n: number, max: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * max));
}

/** DESIGN.md's parity measure: max|a − b| / max|reference|. */
export function relErr(actual: ArrayLike<number>, reference: ArrayLike<number>): { rel: number; abs: number } {
  if (actual.length !== reference.length) throw new Error(`length ${actual.length} ≠ reference ${reference.length}`);
  let abs = 0;
  let ref = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = Math.abs(actual[i] - reference[i]);
    if (!(d <= abs)) abs = Number.isNaN(d) ? Infinity : d;
    ref = Math.max(ref, Math.abs(reference[i]));
  }
  return { abs, rel: ref === 0 ? abs : abs / ref };
}

/** Prints and returns the parity measure for one comparison (tests print the worst difference they saw). */
export function worst(label: string, got: ArrayLike<number>, ref: ArrayLike<number>): number {
  const { rel, abs } = relErr(got, ref);
  console.log(`${label}: rel ${rel.toExponential(2)} abs ${abs.toExponential(2)}`);
  return rel;
}

/** Central finite differences of f at x (float64), the independent check of every analytic backward. */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, h = 1e-5): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const x0 = x[i];
    x[i] = x0 + h;
    const up = f(x);
    x[i] = x0 - h;
    const down = f(x);
    x[i] = x0;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

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

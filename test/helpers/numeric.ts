/** Seeded random numbers and comparisons for numeric tests. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

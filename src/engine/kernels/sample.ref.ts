/**
 * CPU reference of `sample`: HF's logits processors as transformers writes them — repetition penalty
 * (gather, where, scatter), temperature, top-k (`scores < topk[..., -1]`), top-p (ascending sort,
 * cumulative softmax, drop while ≤ 1 − top_p, keep the last) — in float64, with sorts. Returns the
 * probability of each id; temperature 0 gives a one-hot on the argmax (first among equals).
 */
export interface SampleRefOptions {
  temperature: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  prevIds?: ArrayLike<number>;
  vocab?: number;
}

export function sampleProbsRef(logits: ArrayLike<number>, o: SampleRefOptions): Float64Array {
  const n = o.vocab ?? logits.length;
  const x = Float64Array.from({ length: n }, (_, i) => logits[i]);
  const r = o.repetitionPenalty ?? 1;
  const seen = new Set<number>();
  for (const id of Array.from(o.prevIds ?? [])) if (id >= 0 && id < n) seen.add(id);
  for (const id of seen) x[id] = x[id] < 0 ? x[id] * r : x[id] / r;

  const probs = new Float64Array(n);
  if (o.temperature === 0) {
    let best = 0;
    for (let i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    probs[best] = 1;
    return probs;
  }
  for (let i = 0; i < n; i++) x[i] /= o.temperature;

  const k = o.topK ?? 0;
  if (k > 0 && k < n) {
    const kth = Array.from(x).sort((a, b) => b - a)[k - 1];
    for (let i = 0; i < n; i++) if (x[i] < kth) x[i] = -Infinity;
  }

  const p = o.topP ?? 1;
  if (p < 1) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a] - x[b] || a - b); // ascending
    const sm = softmax(x);
    let cum = 0;
    order.forEach((id, j) => {
      cum += sm[id];
      if (cum <= 1 - p && j < n - 1) x[id] = -Infinity;
    });
  }
  probs.set(softmax(x));
  return probs;
}

function softmax(x: Float64Array): Float64Array {
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, v);
  const e = x.map((v) => (v === -Infinity ? 0 : Math.exp(v - mx)));
  let z = 0;
  for (const v of e) z += v;
  return e.map((v) => v / z);
}

/** CPU references for the embedding: plain loops, float64 accumulation. */

/** out[n, c] = table[ids[n], c]; ids outside [0, V) give zero rows (as the kernel). */
export function embeddingForwardRef(ids: ArrayLike<number>, table: ArrayLike<number>, V: number, C: number): Float64Array {
  const out = new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (id < 0 || id >= V) continue;
    for (let c = 0; c < C; c++) out[n * C + c] = table[id * C + c];
  }
  return out;
}

/** dTable[ids[n], c] += dy[n, c], straight from the definition (no grouping). */
export function embeddingBackwardRef(ids: ArrayLike<number>, dy: ArrayLike<number>, V: number, C: number, init?: ArrayLike<number>): Float64Array {
  const out = init ? Float64Array.from(init) : new Float64Array(V * C);
  for (let n = 0; n < ids.length; n++) {
    for (let c = 0; c < C; c++) out[ids[n] * C + c] += dy[n * C + c];
  }
  return out;
}

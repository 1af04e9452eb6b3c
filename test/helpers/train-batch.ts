/** A fixed two-row training batch for one-step parity tests against the torch worker's reference. */

/** Rows of token ids (< 128, so any tiny test vocabulary holds them). */
export const ROWS = [
  [5, 9, 33, 71, 12, 4, 90, 17],
  [8, 61, 2, 14, 14, 3, 55, 100],
];
/** The first 3 tokens of each row are prompt: not counted in the loss. */
export const PROMPT = 3;

/** HF labels for the torch reference: −100 = not counted (the shift happens inside torch). */
export function hfLabels(): number[][] {
  return ROWS.map((r) => r.map((id, t) => (t < PROMPT ? -100 : id)));
}

/** The same batch for the engine, whose labels are next-token targets (−1 = masked). */
export function engineBatch() {
  const T = ROWS[0].length;
  const ids = Int32Array.from(ROWS.flat());
  const labels = new Int32Array(ids.length).fill(-1);
  ROWS.forEach((r, b) => {
    for (let t = 0; t + 1 < T; t++) if (t + 1 >= PROMPT) labels[b * T + t] = r[t + 1];
  });
  return { ids, labels, B: ROWS.length, T, count: labels.filter((l) => l >= 0).length };
}

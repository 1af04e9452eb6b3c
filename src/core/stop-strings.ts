/**
 * Stop strings in streamed text (SamplingParams.stop): the output ends before the first stop string, and text
 * that could still grow into one is held back until the next token decides. The runner's serve worker does the
 * same in Python (`_first_stop` / `_held` in retort_torch/serve.py).
 */

/** Index of the earliest stop string in `text`, or −1. */
export function firstStop(text: string, stops: readonly string[]): number {
  let cut = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (cut < 0 || i < cut)) cut = i;
  }
  return cut;
}

/** How many trailing characters of `text` are a proper prefix of some stop string (not safe to send yet). */
export function heldBack(text: string, stops: readonly string[]): number {
  let held = 0;
  for (const s of stops) {
    for (let k = Math.min(s.length - 1, text.length); k > held; k--) {
      if (text.endsWith(s.slice(0, k))) {
        held = k;
        break;
      }
    }
  }
  return held;
}

/**
 * What to send after the decoded text grew to `text`, given `sent` characters already sent: the new piece and
 * whether a stop string ended the output. `final` (end of stream) flushes what was held back.
 */
export function nextPiece(text: string, sent: number, stops: readonly string[], final: boolean): { piece: string; sent: number; stopped: boolean } {
  const cut = firstStop(text, stops);
  if (cut >= 0) return { piece: text.slice(sent, Math.max(sent, cut)), sent: Math.max(sent, cut), stopped: true };
  const end = final ? text.length : Math.max(sent, text.length - heldBack(text, stops));
  return { piece: text.slice(sent, end), sent: end, stopped: false };
}

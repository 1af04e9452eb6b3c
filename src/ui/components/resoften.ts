/**
 * Re-softening a probe at a new temperature on the page, so the slider answers at once while the
 * exact probe at that temperature runs. From the distributions at T0: the reported top-k keep their
 * log-probabilities and the tail's mass is spread evenly over the other tokens (exact when the top-k
 * covers the vocabulary). Then p(T) ∝ p(T0)^(T0/T): the logits divided by T, up to a constant.
 */
import type { ProbeDistribution, ProbePosition } from '../../core/session.ts';
import { probePosition } from '../../engine/session/probe.ts';

/** Log-probabilities over the whole vocabulary at T0, times T0: logits up to a constant. */
function logitsFrom(d: ProbeDistribution, vocab: number, T0: number): Float64Array {
  const others = vocab - d.top.length;
  const each = others > 0 ? Math.log(Math.max(d.tailMass, 1e-30) / others) : -Infinity;
  const row = new Float64Array(vocab).fill(each * T0);
  for (const e of d.top) row[e.id] = e.logprob * T0;
  return row;
}

/** Estimates what a probe at `T` would show, from one made at `at.temperatures[i]` = T0. */
export function resoften(at: ProbePosition, T0: number, T: number, vocab: number, topK: number): ProbePosition {
  const names = new Map<number, string>();
  for (const e of [...at.teacher[0].top, ...at.student[0].top]) names.set(e.id, e.token);
  const decode = (id: number) => names.get(id) ?? `#${id}`;
  const est = probePosition(at.position, logitsFrom(at.teacher[0], vocab, T0), logitsFrom(at.student[0], vocab, T0), [T], topK, decode);
  return { ...est, next: at.next };
}

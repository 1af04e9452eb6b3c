import { describe, expect, it } from 'vitest';
import { probePosition } from '../../src/engine/session/probe.ts';
import { resoften } from '../../src/ui/components/resoften.ts';

const decode = (id: number) => `t${id}`;
/** Seeded logits: LCG, so the test is the same every run. */
function logits(n: number, seed: number, flatTailFrom = n): number[] {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 6 - 3;
  const row = Array.from({ length: n }, rnd);
  // Tokens ranked past `flatTailFrom` share one logit below all the others: a uniform tail.
  const sorted = [...row].sort((a, b) => b - a);
  const floor = sorted[Math.min(flatTailFrom, n) - 1] - 1;
  return row.map((v) => (sorted.indexOf(v) >= flatTailFrom ? floor : v));
}

function worstDiff(a: ReturnType<typeof probePosition>, b: ReturnType<typeof probePosition>): number {
  let worst = Math.abs(a.kl[0] - b.kl[0]);
  for (const k of ['teacher', 'student'] as const) {
    worst = Math.max(worst, Math.abs(a[k][0].entropy - b[k][0].entropy), Math.abs(a[k][0].tailMass - b[k][0].tailMass));
    a[k][0].top.forEach((e, i) => (worst = Math.max(worst, Math.abs(e.logprob - b[k][0].top[i].logprob))));
  }
  return worst;
}

describe('resoften (client-side temperature change from one probe)', () => {
  const V = 12;
  it('is exact when the top-k covers the vocabulary', () => {
    const [t, s] = [logits(V, 1), logits(V, 2)];
    const at1 = probePosition(3, t, s, [1], V, decode);
    for (const T of [0.3, 2.5, 7]) {
      const worst = worstDiff(resoften(at1, 1, T, V, V), probePosition(3, t, s, [T], V, decode));
      console.log(`T 1 → ${T}: worst |Δ| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-9);
    }
  });

  it('is exact from a top-k when the tail beyond it is flat, and from any starting temperature', () => {
    const k = 5;
    const [t, s] = [logits(V, 3, k), logits(V, 4, k)];
    const at = probePosition(0, t, s, [2], V, decode);
    // Report only the top-k: the rest is the tail's mass.
    const cut = { ...at, teacher: [{ ...at.teacher[0], top: at.teacher[0].top.slice(0, k), tailMass: 1 - at.teacher[0].top.slice(0, k).reduce((a, e) => a + Math.exp(e.logprob), 0) }],
      student: [{ ...at.student[0], top: at.student[0].top.slice(0, k), tailMass: 1 - at.student[0].top.slice(0, k).reduce((a, e) => a + Math.exp(e.logprob), 0) }] };
    const worst = worstDiff(resoften(cut, 2, 0.5, V, V), probePosition(0, t, s, [0.5], V, decode));
    console.log(`top-${k} of ${V}, T 2 → 0.5: worst |Δ| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-9);
  });
});

import { describe, expect, it } from 'vitest';
import type { ProbeDistribution } from '../../src/core/session.ts';
import { klTerms, pairRows, sliderAt, temperatureAt } from '../../src/ui/components/paired-rows.ts';

const dist = (entries: [number, string, number][]): ProbeDistribution => ({
  top: entries.map(([id, token, p]) => ({ id, token, logprob: Math.log(p) })),
  tailMass: 1 - entries.reduce((s, [, , p]) => s + p, 0),
  entropy: 0,
});

describe('pairRows', () => {
  const teacher = dist([[1, 'a', 0.6], [2, 'b', 0.3], [3, 'c', 0.05]]);
  const student = dist([[2, 'b', 0.5], [4, 'd', 0.2], [1, 'a', 0.1]]);

  it('unions both top lists, orders by the larger probability, and leaves the rest as tail', () => {
    const { rows, tail, floor } = pairRows(teacher, student, 2);
    expect(rows.map((r) => r.token)).toEqual(['a', 'b', 'd']); // max(p): a .6, b .5, d .2
    expect(rows[0]).toMatchObject({ teacher: expect.closeTo(0.6, 12), student: expect.closeTo(0.1, 12) });
    expect(rows[2].teacher).toBeUndefined(); // 'd' is outside the teacher's reported list
    expect(tail.teacher).toBeCloseTo(1 - 0.6 - 0.3, 12);
    expect(tail.student).toBeCloseTo(1 - 0.1 - 0.5 - 0.2, 12);
    expect(floor).toEqual({ teacher: expect.closeTo(0.05, 12), student: expect.closeTo(0.1, 12) });
  });

  it('gives the KL terms p_t·ln(p_t/p_s) of rows known to both, largest first', () => {
    const terms = klTerms(pairRows(teacher, student, 2).rows);
    expect(terms.map((t) => t.token)).toEqual(['a', 'b']);
    expect(terms[0].value).toBeCloseTo(0.6 * Math.log(6), 12); // 1.0751
    expect(terms[1].value).toBeCloseTo(0.3 * Math.log(0.6), 12); // −0.1532
  });
});

describe('log temperature slider', () => {
  it('maps 0, ½, 1 to 0.1, 1, 10 and back', () => {
    expect([0, 0.5, 1].map((x) => temperatureAt(x))).toEqual([expect.closeTo(0.1, 12), expect.closeTo(1, 12), expect.closeTo(10, 12)]);
    for (const T of [0.1, 0.37, 1, 4.2, 10]) expect(temperatureAt(sliderAt(T))).toBeCloseTo(T, 12);
  });
});

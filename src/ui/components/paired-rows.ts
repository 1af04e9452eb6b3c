/**
 * Teacher and student next-token distributions side by side: the union of each model's most likely
 * tokens, each with both probabilities, and the mass of everything else (the tail) as its own row.
 * A token outside a model's reported top-k has an unknown probability; it stays inside that model's tail.
 */
import type { ProbeDistribution } from '../../core/session.ts';

export interface PairedRow {
  id: number;
  token: string;
  teacher?: number; // probability, absent when outside the teacher's reported top-k
  student?: number;
}

export interface PairedRows {
  rows: PairedRow[];
  /** 1 − Σ of the rows' known probabilities, per model. */
  tail: { teacher: number; student: number };
  /** The smallest reported probability per model: an unknown row's probability is below it. */
  floor: { teacher: number; student: number };
}

/** The union of both models' `n` most likely tokens, most likely (for either model) first. */
export function pairRows(teacher: ProbeDistribution, student: ProbeDistribution, n: number): PairedRows {
  const pt = new Map(teacher.top.map((e) => [e.id, Math.exp(e.logprob)]));
  const ps = new Map(student.top.map((e) => [e.id, Math.exp(e.logprob)]));
  const tokens = new Map<number, string>();
  for (const e of [...teacher.top.slice(0, n), ...student.top.slice(0, n)]) tokens.set(e.id, e.token);
  const rows = [...tokens].map(([id, token]) => ({ id, token, teacher: pt.get(id), student: ps.get(id) }));
  rows.sort((a, b) => Math.max(b.teacher ?? 0, b.student ?? 0) - Math.max(a.teacher ?? 0, a.student ?? 0));
  const sum = (k: 'teacher' | 'student') => rows.reduce((s, r) => s + (r[k] ?? 0), 0);
  const floor = (d: ProbeDistribution) => Math.exp(d.top[d.top.length - 1]?.logprob ?? 0);
  return {
    rows,
    tail: { teacher: Math.max(0, 1 - sum('teacher')), student: Math.max(0, 1 - sum('student')) },
    floor: { teacher: floor(teacher), student: floor(student) },
  };
}

/** One token's term of KL(p_t ‖ p_s) = Σ p_t · ln(p_t / p_s), for the rows where both are known. */
export interface KlTerm {
  token: string;
  pt: number;
  ps: number;
  value: number;
}

/** The KL terms of the rows where both probabilities are known, largest in size first. */
export function klTerms(rows: PairedRow[]): KlTerm[] {
  return rows
    .filter((r): r is PairedRow & { teacher: number; student: number } => r.teacher !== undefined && r.student !== undefined && r.teacher > 0)
    .map((r) => ({ token: r.token, pt: r.teacher, ps: r.student, value: r.teacher * Math.log(r.teacher / r.student) }))
    .sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
}

/** Log-scale slider position (0‥1) ↔ temperature (min‥max). */
export function temperatureAt(x: number, min = 0.1, max = 10): number {
  return min * (max / min) ** x;
}

export function sliderAt(T: number, min = 0.1, max = 10): number {
  return Math.log(T / min) / Math.log(max / min);
}

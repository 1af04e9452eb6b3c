/**
 * The loss reference against (1) naive probability-space formulas written here from DESIGN.md,
 * (2) central finite differences of those formulas, (3) PyTorch autograd in float64.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  denseDistillLoss,
  hiddenLoss,
  sparseDistillLoss,
  type DivergenceKind,
  type LossOptions,
  type LossResult,
} from '../../src/core/losses/index.ts';
import { randn, relErr, rng } from '../helpers/numeric.ts';
import { runPython } from '../helpers/python.ts';

// ── naive reference (probabilities, no log-space tricks) ────────────────────

function softmax(z: ArrayLike<number>, T = 1): number[] {
  const max = Math.max(...Array.from(z, (v) => v / T));
  const e = Array.from(z, (v) => Math.exp(v / T - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function kl(a: number[], b: number[]): number {
  return a.reduce((s, ai, i) => (ai > 0 ? s + ai * Math.log(ai / b[i]) : s), 0);
}

function naiveD(kind: DivergenceKind, p: number[], q: number[], beta: number, lambda: number): number {
  const mix = (w: number, a: number[], b: number[]) => a.map((ai, i) => w * ai + (1 - w) * b[i]);
  switch (kind) {
    case 'forward-kl':
      return kl(p, q);
    case 'reverse-kl':
      return kl(q, p);
    case 'gjsd':
      if (beta === 0) return kl(p, q);
      if (beta === 1) return kl(q, p);
      return beta * kl(p, mix(beta, p, q)) + (1 - beta) * kl(q, mix(beta, p, q));
    case 'skew-kl':
      return kl(p, mix(lambda, p, q));
    case 'skew-reverse-kl':
      return kl(q, mix(lambda, q, p));
    case 'tvd':
      return 0.5 * p.reduce((s, pi, i) => s + Math.abs(pi - q[i]), 0);
  }
}

interface Batch {
  N: number;
  V: number;
  zs: Float64Array; // [N, V]
  zt: Float64Array; // [N, V]
  labels: number[]; // [N]
  mask: number[]; // [N]
}

/** Σ over counted tokens of α T² D + (1 − α) CE, divided by their count; D on tempered dense softmaxes. */
function naiveDense(b: Batch, zs: ArrayLike<number>, o: LossOptions): number {
  return naiveMean(b, zs, o, (t, row) => {
    const p = softmax(b.zt.subarray(t * b.V, (t + 1) * b.V), o.temperature);
    const q = softmax(row, o.temperature);
    return naiveD(o.divergence as DivergenceKind, p, q, o.beta ?? 0.5, o.lambda ?? 0.1);
  });
}

interface Sparse {
  k: number;
  ids: number[]; // [N, k]
  logprobs: number[]; // [N, k]
}

/** Same, on the k + 1 bins: q_tail = max(0, 1 − Σq), p_tail = 1 − Σp, tempered ∝ mass^(1/T). */
function naiveSparse(b: Batch, s: Sparse, zs: ArrayLike<number>, o: LossOptions): number {
  return naiveMean(b, zs, o, (t, row) => {
    const p1 = softmax(row);
    const ids = s.ids.slice(t * s.k, (t + 1) * s.k);
    const tq = s.logprobs.slice(t * s.k, (t + 1) * s.k).map(Math.exp);
    const sq = ids.map((id) => p1[id]);
    if (s.k < b.V) {
      tq.push(Math.max(0, 1 - tq.reduce((a, c) => a + c, 0)));
      sq.push(1 - sq.reduce((a, c) => a + c, 0));
    }
    const temper = (m: number[]) => {
      const w = m.map((x) => Math.pow(x, 1 / o.temperature));
      const z = w.reduce((a, c) => a + c, 0);
      return w.map((x) => x / z);
    };
    return naiveD(o.divergence as DivergenceKind, temper(tq), temper(sq), o.beta ?? 0.5, o.lambda ?? 0.1);
  });
}

function naiveMean(b: Batch, zs: ArrayLike<number>, o: LossOptions, D: (t: number, row: number[]) => number): number {
  let sum = 0;
  let count = 0;
  for (let t = 0; t < b.N; t++) {
    if (!b.mask[t]) continue;
    const row = Array.from({ length: b.V }, (_, v) => zs[t * b.V + v]);
    const ce = -Math.log(softmax(row)[b.labels[t]]);
    const soft = o.divergence === 'none' ? 0 : o.temperature ** 2 * D(t, row);
    sum += o.divergence === 'none' ? ce : o.alpha * soft + (1 - o.alpha) * ce;
    count++;
  }
  return count ? sum / count : 0;
}

function finiteDiff(f: (x: Float64Array) => number, x0: Float64Array, h = 1e-5): Float64Array {
  const x = Float64Array.from(x0);
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    x[i] = v + h;
    const up = f(x);
    x[i] = v - h;
    const down = f(x);
    x[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

function batch(seed: number, N = 4, V = 7, scale = 1.5): Batch {
  const r = rng(seed + 1000);
  return {
    N,
    V,
    zs: Float64Array.from(randn(N * V, seed, scale)),
    zt: Float64Array.from(randn(N * V, seed + 1, scale)),
    labels: Array.from({ length: N }, () => Math.floor(r() * V)),
    mask: Array.from({ length: N }, (_, t) => (t === 1 ? 0 : 1)),
  };
}

function dense(b: Batch, o: LossOptions, zs: ArrayLike<number> = b.zs): LossResult {
  return denseDistillLoss({ tokens: b.N, vocab: b.V, student: zs, teacher: b.zt, labels: b.labels, mask: b.mask }, o);
}

/** Top-k of the teacher's own softmax, ids in descending probability. */
function topK(b: Batch, k: number): Sparse {
  const ids: number[] = [];
  const logprobs: number[] = [];
  for (let t = 0; t < b.N; t++) {
    const p = softmax(b.zt.subarray(t * b.V, (t + 1) * b.V));
    const order = p.map((_, i) => i).sort((i, j) => p[j] - p[i]).slice(0, k);
    ids.push(...order);
    logprobs.push(...order.map((i) => Math.log(p[i])));
  }
  return { k, ids, logprobs };
}

function sparse(b: Batch, s: Sparse, o: LossOptions, zs: ArrayLike<number> = b.zs): LossResult {
  return sparseDistillLoss({ tokens: b.N, vocab: b.V, student: zs, targets: s, labels: b.labels, mask: b.mask }, o);
}

// ── bookkeeping: the worst difference each check saw ────────────────────────

const worst = new Map<string, number>();
function record(what: string, err: number): number {
  worst.set(what, Math.max(worst.get(what) ?? 0, err));
  return err;
}
afterAll(() => {
  for (const [what, err] of worst) console.log(`losses: worst ${what}: ${err.toExponential(2)}`);
});

// ── the option grid ─────────────────────────────────────────────────────────

const kinds: { divergence: DivergenceKind; beta?: number; lambda?: number }[] = [
  { divergence: 'forward-kl' },
  { divergence: 'reverse-kl' },
  { divergence: 'gjsd', beta: 0 },
  { divergence: 'gjsd', beta: 0.1 },
  { divergence: 'gjsd', beta: 0.5 },
  { divergence: 'gjsd', beta: 0.9 },
  { divergence: 'gjsd', beta: 1 },
  { divergence: 'skew-kl', lambda: 0.1 },
  { divergence: 'skew-kl', lambda: 0.5 },
  { divergence: 'skew-reverse-kl', lambda: 0.1 },
  { divergence: 'skew-reverse-kl', lambda: 0.5 },
  { divergence: 'tvd' },
];
const grid: LossOptions[] = kinds.flatMap((k) =>
  [0.5, 1, 2.5].flatMap((temperature) => [0.3, 1].map((alpha) => ({ ...k, temperature, alpha }))),
);
grid.push({ divergence: 'forward-kl', temperature: 2, alpha: 0 }, { divergence: 'none', temperature: 1, alpha: 0.7 });
const label = (o: LossOptions) =>
  `${o.divergence}${o.beta !== undefined ? ` β=${o.beta}` : ''}${o.lambda !== undefined ? ` λ=${o.lambda}` : ''} T=${o.temperature} α=${o.alpha}`;

describe('dense loss', () => {
  it.each(grid.map((o) => [label(o), o] as const))('%s: value and gradient match the formula and finite differences', (_, o) => {
    const b = batch(7);
    const res = dense(b, o);
    const ref = naiveDense(b, b.zs, o);
    expect(record('dense value vs formula (rel)', Math.abs(res.loss - ref) / Math.abs(ref))).toBeLessThan(1e-12);
    const fd = finiteDiff((z) => naiveDense(b, z, o), b.zs);
    expect(record('dense gradient vs finite differences (rel)', relErr(res.grad, fd).rel)).toBeLessThan(1e-6);
  });

  it('reports soft and hard parts that mix to the loss', () => {
    const b = batch(3);
    const o = { divergence: 'reverse-kl', temperature: 2, alpha: 0.25 } as const;
    const res = dense(b, o);
    expect(res.count).toBe(3);
    expect(res.loss).toBeCloseTo(0.25 * res.soft + 0.75 * res.hard, 14);
    expect(res.soft).toBeCloseTo(naiveDense(b, b.zs, { ...o, alpha: 1 }), 12);
    expect(res.hard).toBeCloseTo(naiveDense(b, b.zs, { ...o, alpha: 0 }), 12);
  });

  it('gjsd at β = 0 is forward KL and at β = 1 reverse KL', () => {
    const b = batch(11);
    for (const [beta, kind] of [[0, 'forward-kl'], [1, 'reverse-kl']] as const) {
      const g = dense(b, { divergence: 'gjsd', beta, temperature: 1.7, alpha: 0.6 });
      const k = dense(b, { divergence: kind, temperature: 1.7, alpha: 0.6 });
      expect(g.loss).toBe(k.loss);
      expect(relErr(g.grad, k.grad).abs).toBe(0);
    }
  });

  it('scales the soft term by T²', () => {
    const b = batch(5);
    for (const T of [0.5, 2, 4]) {
      const res = dense(b, { divergence: 'forward-kl', temperature: T, alpha: 1 });
      let hand = 0;
      for (const t of [0, 2, 3]) {
        const p = softmax(b.zt.subarray(t * b.V, (t + 1) * b.V), T);
        const q = softmax(b.zs.subarray(t * b.V, (t + 1) * b.V), T);
        hand += p.reduce((s, pi, i) => s + pi * (Math.log(pi) - Math.log(q[i])), 0);
      }
      expect(record('T² scaling (rel)', Math.abs(res.loss - (T * T * hand) / 3) / res.loss)).toBeLessThan(1e-12);
    }
  });

  it('is cross-entropy at α = 0 and for divergence none', () => {
    const b = batch(9);
    let hand = 0;
    for (const t of [0, 2, 3]) hand -= Math.log(softmax(b.zs.subarray(t * b.V, (t + 1) * b.V))[b.labels[t]]);
    hand /= 3;
    for (const o of [
      { divergence: 'tvd', temperature: 3, alpha: 0 },
      { divergence: 'none', temperature: 3, alpha: 0.9 },
    ] as const) {
      const res = dense(b, o);
      expect(Math.abs(res.loss - hand)).toBeLessThan(1e-14);
      // ∂CE/∂z = softmax(z) − onehot(y), divided by the 3 counted tokens
      const expected = new Float64Array(b.N * b.V);
      for (const t of [0, 2, 3]) {
        softmax(b.zs.subarray(t * b.V, (t + 1) * b.V)).forEach((p, v) => (expected[t * b.V + v] = p / 3));
        expected[t * b.V + b.labels[t]] -= 1 / 3;
      }
      expect(relErr(res.grad, expected).abs).toBeLessThan(1e-15);
    }
  });

  it('gives zero divergence and zero soft gradient for equal logits', () => {
    const b = batch(13);
    b.zt = Float64Array.from(b.zs);
    for (const k of kinds) {
      const res = dense(b, { ...k, temperature: 1.3, alpha: 1 });
      expect(record('equal logits |loss|', Math.abs(res.loss))).toBeLessThan(1e-15);
      expect(record('equal logits |grad|', relErr(res.grad, new Float64Array(res.grad.length)).abs)).toBeLessThan(1e-15);
    }
  });

  it('counts only masked-in tokens', () => {
    const b = batch(17);
    const o = { divergence: 'skew-kl', lambda: 0.1, temperature: 2, alpha: 0.5 } as const;
    const res = dense(b, o);
    for (let v = 0; v < b.V; v++) expect(res.grad[1 * b.V + v]).toBe(0);
    expect(res.perToken.soft[1]).toBe(0);
    // changing a masked-out row changes nothing
    const zs = Float64Array.from(b.zs);
    for (let v = 0; v < b.V; v++) zs[1 * b.V + v] = 100 * v;
    expect(dense(b, o, zs).loss).toBe(res.loss);
    // the mean is over counted tokens: the per-token values average to the loss
    const perToken = [0, 2, 3].map((t) => 0.5 * res.perToken.soft[t] + 0.5 * res.perToken.hard[t]);
    expect(res.loss).toBeCloseTo(perToken.reduce((a, c) => a + c) / 3, 14);
    // no counted tokens: zero loss, zero gradient
    const none = dense({ ...b, mask: [0, 0, 0, 0] }, o);
    expect([none.loss, none.count, Math.max(...none.grad.map(Math.abs))]).toEqual([0, 0, 0]);
  });

  it('names the tensor and index of bad input', () => {
    const b = batch(1);
    const o = { divergence: 'forward-kl', temperature: 1, alpha: 0.5 } as const;
    const run = (patch: Partial<Parameters<typeof denseDistillLoss>[0]>, opts: LossOptions = o) => () =>
      denseDistillLoss({ tokens: b.N, vocab: b.V, student: b.zs, teacher: b.zt, labels: b.labels, mask: b.mask, ...patch }, opts);
    expect(run({ student: b.zs.subarray(1) })).toThrow('student logits: has 27 values, expected [tokens, vocab] = 28');
    expect(run({ teacher: undefined })).toThrow('teacher logits: missing (expected [tokens, vocab] = 28 values)');
    expect(run({ labels: [0, 1, 7, 0] })).toThrow('labels: id 7 at [2] is outside [0, 7)');
    expect(run({ mask: [1, 0.5, 1, 1] })).toThrow('mask: value 0.5 at [1] (expected 0 or 1)');
    const nan = Float64Array.from(b.zt);
    nan[2 * b.V + 3] = NaN;
    expect(run({ teacher: nan })).toThrow('teacher logits: non-finite value NaN at [2, 3]');
    expect(run({}, { ...o, temperature: 0 })).toThrow('temperature: 0 must be > 0');
    expect(run({}, { ...o, alpha: 1.5 })).toThrow('alpha: 1.5 must be in [0, 1]');
  });
});

describe('sparse teacher targets', () => {
  const sparseGrid = grid.filter((o) => o.temperature !== 1 || o.alpha !== 1);
  it.each(sparseGrid.map((o) => [label(o), o] as const))('%s: value and gradient match the bin formula and finite differences', (_, o) => {
    const b = batch(21, 4, 9);
    const s = topK(b, 3);
    const res = sparse(b, s, o);
    const ref = naiveSparse(b, s, b.zs, o);
    expect(record('sparse value vs formula (rel)', Math.abs(res.loss - ref) / Math.abs(ref))).toBeLessThan(1e-11);
    const fd = finiteDiff((z) => naiveSparse(b, s, z, o), b.zs);
    expect(record('sparse gradient vs finite differences (rel)', relErr(res.grad, fd).rel)).toBeLessThan(1e-6);
  });

  it('equals the dense loss when k = V', () => {
    const b = batch(23);
    const s = topK(b, b.V);
    for (const k of kinds)
      for (const temperature of [0.5, 2]) {
        const o = { ...k, temperature, alpha: 0.6 };
        const d = dense(b, o);
        const sp = sparse(b, s, o);
        expect(record('sparse k=V vs dense value (rel)', Math.abs(sp.loss - d.loss) / d.loss)).toBeLessThan(1e-12);
        expect(record('sparse k=V vs dense gradient (rel)', relErr(sp.grad, d.grad).rel)).toBeLessThan(1e-12);
      }
  });

  it('keeps a zero-mass teacher tail at zero under temperature', () => {
    // Teacher top-2 already holds all the mass: q_tail = 0, forward KL stays finite.
    const b = batch(29, 1, 5);
    b.mask = [1];
    const s = { k: 2, ids: [3, 1], logprobs: [Math.log(0.75), Math.log(0.25)] };
    const res = sparse(b, s, { divergence: 'forward-kl', temperature: 2, alpha: 1 });
    const p = softmax(b.zs);
    const sq = [p[3], p[1], 1 - p[3] - p[1]].map((x) => Math.sqrt(x));
    const tq = [Math.sqrt(0.75), Math.sqrt(0.25)];
    const zq = sq.reduce((a, c) => a + c);
    const zt = tq.reduce((a, c) => a + c);
    const hand = 4 * tq.reduce((acc, t, j) => acc + (t / zt) * Math.log(t / zt / (sq[j] / zq)), 0);
    expect(Math.abs(res.loss - hand)).toBeLessThan(1e-13);
  });

  it('names bad targets', () => {
    const b = batch(31);
    const s = topK(b, 3);
    const o = { divergence: 'forward-kl', temperature: 1, alpha: 0.5 } as const;
    const ids = [...s.ids];
    ids[4] = 99; // token 1 is masked out: its targets are never read
    expect(() => sparse(b, { ...s, ids }, o)).not.toThrow();
    ids[7] = ids[6];
    expect(() => sparse(b, { ...s, ids }, o)).toThrow(`teacher ids: id ${ids[6]} appears twice in token 2`);
    ids[7] = 7;
    expect(() => sparse(b, { ...s, ids }, o)).toThrow('teacher ids: id 7 at [2, 1] is outside [0, 7)');
    expect(() => sparse(b, { ...s, logprobs: s.logprobs.slice(1) }, o)).toThrow(
      'teacher logprobs: has 11 values, expected [tokens, k] = 12',
    );
    expect(() => sparse(b, { ...s, k: 8 }, o)).toThrow('teacher targets: k = 8 must be in [1, 7]');
  });
});

// ── hidden-state loss ───────────────────────────────────────────────────────

interface Hidden {
  N: number;
  Ds: number;
  Dt: number;
  hs: Float64Array;
  ht: Float64Array;
  W: Float64Array;
  b: Float64Array;
  mask: number[];
}

function hiddenBatch(seed: number): Hidden {
  const N = 3;
  const Ds = 4;
  const Dt = 5;
  return {
    N, Ds, Dt,
    hs: Float64Array.from(randn(N * Ds, seed)),
    ht: Float64Array.from(randn(N * Dt, seed + 1)),
    W: Float64Array.from(randn(Dt * Ds, seed + 2, 0.5)),
    b: Float64Array.from(randn(Dt, seed + 3, 0.1)),
    mask: [1, 0, 1],
  };
}

function naiveHidden(h: Hidden, kind: 'mse' | 'cosine', hs = h.hs, W = h.W, b = h.b): number {
  const rows = [0, 1, 2].filter((t) => h.mask[t]);
  let sum = 0;
  for (const t of rows) {
    const y = Array.from({ length: h.Dt }, (_, o) => b[o] + Array.from({ length: h.Ds }, (_, i) => W[o * h.Ds + i] * hs[t * h.Ds + i]).reduce((a, c) => a + c));
    const ht = Array.from(h.ht.subarray(t * h.Dt, (t + 1) * h.Dt));
    if (kind === 'mse') sum += y.reduce((a, yo, o) => a + (yo - ht[o]) ** 2, 0) / h.Dt;
    else {
      const dot = y.reduce((a, yo, o) => a + yo * ht[o], 0);
      const norm = (v: number[]) => Math.hypot(...v);
      sum += 1 - dot / (norm(y) * norm(ht));
    }
  }
  return sum / rows.length;
}

describe('hidden-state loss', () => {
  it.each(['mse', 'cosine'] as const)('%s: value and gradients (h_s, W, b) match finite differences', (kind) => {
    const h = hiddenBatch(41);
    const res = hiddenLoss({ tokens: h.N, studentDim: h.Ds, teacherDim: h.Dt, student: h.hs, teacher: h.ht, weight: h.W, bias: h.b, mask: h.mask }, kind);
    const ref = naiveHidden(h, kind);
    expect(record('hidden value vs formula (rel)', Math.abs(res.loss - ref) / ref)).toBeLessThan(1e-13);
    const checks: [Float64Array, Float64Array][] = [
      [res.gradStudent, finiteDiff((x) => naiveHidden(h, kind, x), h.hs)],
      [res.gradWeight, finiteDiff((x) => naiveHidden(h, kind, h.hs, x), h.W)],
      [res.gradBias, finiteDiff((x) => naiveHidden(h, kind, h.hs, h.W, x), h.b)],
    ];
    for (const [g, fd] of checks) expect(record('hidden gradients vs finite differences (rel)', relErr(g, fd).rel)).toBeLessThan(1e-6);
  });

  it('is zero when the projection maps h_s onto h_t', () => {
    const h = hiddenBatch(43);
    h.W = new Float64Array(h.Dt * h.Ds);
    h.b = new Float64Array(h.Dt);
    for (let i = 0; i < h.Ds; i++) h.W[i * h.Ds + i] = 1; // y = first Ds dims of h_s, then 0
    h.ht = new Float64Array(h.N * h.Dt);
    for (let t = 0; t < h.N; t++) for (let i = 0; i < h.Ds; i++) h.ht[t * h.Dt + i] = 3 * h.hs[t * h.Ds + i];
    const input = { tokens: h.N, studentDim: h.Ds, teacherDim: h.Dt, student: h.hs, teacher: h.ht, weight: h.W };
    expect(hiddenLoss(input, 'cosine').loss).toBeLessThan(1e-15); // parallel: cosine ignores the scale of 3
    expect(hiddenLoss(input, 'mse').loss).toBeGreaterThan(0.1);
  });
});

// ── PyTorch ─────────────────────────────────────────────────────────────────

const torchLosses = `
  import math, torch
  import torch.nn.functional as F
  torch.set_default_dtype(torch.float64)

  def kl(la, lb):  # KL(a ‖ b) per row from log-probabilities
      return F.kl_div(lb, la, reduction="none", log_target=True).sum(-1)

  def mixture(w, la, lb):  # log(w·a + (1 − w)·b), as TRL's GKD builds it
      parts = [la + math.log(w)] if w > 0 else []
      if w < 1: parts.append(lb + math.log(1 - w))
      return torch.logsumexp(torch.stack(parts), 0)

  def divergence(c, lp, lq):  # lp teacher, lq student, tempered log-probs [N, n]
      kind = c["divergence"]
      if kind == "forward-kl" or (kind == "gjsd" and c["beta"] == 0): return kl(lp, lq)
      if kind == "reverse-kl" or (kind == "gjsd" and c["beta"] == 1): return kl(lq, lp)
      if kind == "gjsd":
          m = mixture(c["beta"], lp, lq)
          return c["beta"] * kl(lp, m) + (1 - c["beta"]) * kl(lq, m)
      if kind == "skew-kl": return kl(lp, mixture(c["lambda"], lp, lq))
      if kind == "skew-reverse-kl": return kl(lq, mixture(c["lambda"], lq, lp))
      if kind == "tvd": return 0.5 * (lp.exp() - lq.exp()).abs().sum(-1)
      raise ValueError(kind)

  N, V = inp["N"], inp["V"]
  zt = torch.tensor(inp["zt"]).view(N, V)
  y = torch.tensor(inp["labels"])
  mask = torch.tensor(inp["mask"], dtype=torch.bool)
  ids = torch.tensor(inp["ids"]).view(N, -1)
  tlp = torch.tensor(inp["logprobs"]).view(N, -1)

  def total(c, d):
      ce = F.cross_entropy(zs, y, reduction="none")
      tok = c["alpha"] * c["temperature"] ** 2 * d + (1 - c["alpha"]) * ce
      return tok[mask].mean()

  results = []
  for c in inp["cases"]:
      T = c["temperature"]
      row = {}
      zs = torch.tensor(inp["zs"]).view(N, V).requires_grad_()
      loss = total(c, divergence(c, F.log_softmax(zt / T, -1), F.log_softmax(zs / T, -1)))
      loss.backward()
      row["dense"] = [loss.item(), zs.grad.flatten().tolist()]
      zs = torch.tensor(inp["zs"]).view(N, V).requires_grad_()
      lse = torch.logsumexp(zs, -1, keepdim=True)
      top = zs.gather(1, ids) - lse
      tail = torch.logsumexp(zs.scatter(1, ids, float("-inf")), -1, keepdim=True) - lse
      s_bins = torch.cat([top, tail], -1)
      t_tail = (1 - tlp.exp().sum(-1, keepdim=True)).clamp(min=0).log()
      t_bins = torch.cat([tlp, t_tail], -1)
      loss = total(c, divergence(c, F.log_softmax(t_bins / T, -1), F.log_softmax(s_bins / T, -1)))
      loss.backward()
      row["sparse"] = [loss.item(), zs.grad.flatten().tolist()]
      results.append(row)

  H = inp["hidden"]
  hidden = {}
  for kind in ["mse", "cosine"]:
      hs = torch.tensor(H["hs"]).view(H["N"], H["Ds"]).requires_grad_()
      W = torch.tensor(H["W"]).view(H["Dt"], H["Ds"]).requires_grad_()
      b = torch.tensor(H["b"]).requires_grad_()
      ht = torch.tensor(H["ht"]).view(H["N"], H["Dt"])
      m = torch.tensor(H["mask"], dtype=torch.bool)
      proj = F.linear(hs, W, b)
      loss = F.mse_loss(proj[m], ht[m]) if kind == "mse" else (1 - F.cosine_similarity(proj, ht, dim=-1))[m].mean()
      loss.backward()
      hidden[kind] = [loss.item(), hs.grad.flatten().tolist(), W.grad.flatten().tolist(), b.grad.tolist()]
  out({"cases": results, "hidden": hidden})
`;

describe('against PyTorch (float64 autograd)', () => {
  it('gives the same losses and gradients for every kind, dense and sparse, and the hidden loss', () => {
    const b = batch(51, 5, 11);
    b.mask = [1, 1, 0, 1, 1];
    const s = topK(b, 4);
    const h = hiddenBatch(53);
    type Case = LossOptions & { beta: number; lambda: number };
    const cases: Case[] = grid
      .filter((o) => o.divergence !== 'none')
      .map((o) => ({ ...o, beta: o.beta ?? 0.5, lambda: o.lambda ?? 0.1 }));
    const torch = runPython<{ cases: { dense: [number, number[]]; sparse: [number, number[]] }[]; hidden: Record<'mse' | 'cosine', [number, number[], number[], number[]]> }>(
      torchLosses,
      { N: b.N, V: b.V, zs: Array.from(b.zs), zt: Array.from(b.zt), labels: b.labels, mask: b.mask, ids: s.ids, logprobs: s.logprobs, cases, hidden: { ...h, hs: Array.from(h.hs), ht: Array.from(h.ht), W: Array.from(h.W), b: Array.from(h.b) } },
    );
    cases.forEach((o, i) => {
      const d = dense(b, o);
      const sp = sparse(b, s, o);
      const [tdLoss, tdGrad] = torch.cases[i].dense;
      const [tsLoss, tsGrad] = torch.cases[i].sparse;
      expect(record('torch dense loss (rel)', Math.abs(d.loss - tdLoss) / tdLoss), label(o)).toBeLessThan(1e-12);
      expect(record('torch dense gradient (rel)', relErr(d.grad, tdGrad).rel), label(o)).toBeLessThan(1e-12);
      expect(record('torch sparse loss (rel)', Math.abs(sp.loss - tsLoss) / tsLoss), label(o)).toBeLessThan(1e-12);
      expect(record('torch sparse gradient (rel)', relErr(sp.grad, tsGrad).rel), label(o)).toBeLessThan(1e-12);
    });
    for (const kind of ['mse', 'cosine'] as const) {
      const res = hiddenLoss({ tokens: h.N, studentDim: h.Ds, teacherDim: h.Dt, student: h.hs, teacher: h.ht, weight: h.W, bias: h.b, mask: h.mask }, kind);
      const [loss, gs, gw, gb] = torch.hidden[kind];
      expect(record('torch hidden loss (rel)', Math.abs(res.loss - loss) / loss)).toBeLessThan(1e-12);
      for (const [a, r] of [[res.gradStudent, gs], [res.gradWeight, gw], [res.gradBias, gb]] as const)
        expect(record('torch hidden gradients (rel)', relErr(a, r).rel)).toBeLessThan(1e-12);
    }
  });
});

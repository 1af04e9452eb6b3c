import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn } from '../../helpers/numeric.ts';
import { sampleTokens, type SampleOptions } from '../../../src/engine/kernels/sample.ts';
import { sampleProbsRef, type SampleRefOptions } from '../../../src/engine/kernels/sample.ref.ts';
import type { Runtime } from '../../../src/engine/runtime.ts';

const PYTHON = process.env.RETORT_PYTHON ?? '/usr/bin/python3';

/** Draws `rows` tokens from one logits row (one workgroup a row, each with its own random stream). */
async function draw(rt: Runtime, row: Float32Array, rows: number, o: Omit<SampleOptions, 'prevIds'> & { prev?: number[] }): Promise<Int32Array> {
  const { prev, ...rest } = o;
  const data = new Float32Array(rows * row.length);
  for (let b = 0; b < rows; b++) data.set(row, b * row.length);
  const logits = rt.upload(data, [rows, row.length]);
  const prevIds = prev ? rt.upload(Int32Array.from({ length: rows * prev.length }, (_, i) => prev[i % prev.length]), [rows, prev.length]) : undefined;
  const out = sampleTokens(rt, logits, { ...rest, prevIds });
  const ids = (await rt.read(out)) as Int32Array;
  for (const t of [logits, prevIds, out]) t?.dispose();
  return ids;
}

function counts(ids: Int32Array, n: number): number[] {
  const c = new Array<number>(n).fill(0);
  for (const i of ids) c[i]++;
  return c;
}

/**
 * Pearson's χ² of observed counts against probabilities (bins expecting < 5 pooled), and the
 * Wilson–Hilferty critical value at p = 1e-3 for its degrees of freedom.
 */
function chiSquare(obs: number[], probs: ArrayLike<number>): { chi2: number; critical: number; df: number } {
  const N = obs.reduce((a, b) => a + b, 0);
  let chi2 = 0;
  let bins = 0;
  let poolO = 0;
  let poolE = 0;
  obs.forEach((o, i) => {
    const e = N * probs[i];
    if (e === 0) return;
    if (e < 5) {
      poolO += o;
      poolE += e;
      return;
    }
    chi2 += (o - e) ** 2 / e;
    bins++;
  });
  if (poolE > 0) {
    chi2 += (poolO - poolE) ** 2 / poolE;
    bins++;
  }
  const df = Math.max(1, bins - 1);
  const z = 3.09;
  const critical = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
  return { chi2, critical, df };
}

/** Tokens the reference gives no probability must never be drawn; the others must match it by χ². */
function expectDistribution(label: string, ids: Int32Array, probs: Float64Array): void {
  const obs = counts(ids, probs.length);
  const banned = obs.map((o, i) => (probs[i] === 0 && o > 0 ? i : -1)).filter((i) => i >= 0);
  expect(banned, `${label}: drew ids the reference excludes`).toEqual([]);
  const { chi2, critical, df } = chiSquare(obs, probs);
  console.log(`sample ${label}: χ² ${chi2.toFixed(2)} (df ${df}, critical ${critical.toFixed(2)}) over ${ids.length} draws`);
  expect(chi2, label).toBeLessThan(critical);
}

// HF's logits processors exactly as transformers writes them, in torch float64: the independent check
// that sampleProbsRef follows HF.
const HF_SCRIPT = `
import json, sys, torch
out = []
for c in json.load(sys.stdin):
    scores = torch.tensor([c['logits']], dtype=torch.float64)
    if c.get('prev'):
        ids = torch.tensor([c['prev']])
        score = torch.gather(scores, 1, ids)
        score = torch.where(score < 0, score * c['penalty'], score / c['penalty'])
        scores = scores.scatter(1, ids, score)
    scores = scores / c['temperature']
    if c.get('topK'):
        k = min(c['topK'], scores.size(-1))
        scores = scores.masked_fill(scores < torch.topk(scores, k)[0][..., -1, None], -float('inf'))
    if c.get('topP', 1) < 1:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative_probs <= (1 - c['topP'])
        remove[..., -1:] = 0
        scores = scores.masked_fill(remove.scatter(1, sorted_indices, remove), -float('inf'))
    out.append(torch.softmax(scores, dim=-1)[0].tolist())
print(json.dumps(out))
`;

/** `viaHistory`: the penalised ids go as one host list for all rows instead of a [B, L] tensor. */
interface Case { label: string; logits: Float32Array; o: SampleRefOptions & { prev?: number[] }; viaHistory?: boolean }

const V = 12;
const ROW = randn(V, 11, 1.5);
// Positive (10, 7, 5) and negative (2, 0) logits, a repeat, padding and an id outside the vocabulary.
const PREV = [10, 10, 2, -1, 0, 7, 500];
const DRAWS = 1024;

const CASES: Case[] = [
  { label: 'T=0.8', logits: ROW, o: { temperature: 0.8 } },
  { label: 'T=1.3 top-k 4', logits: ROW, o: { temperature: 1.3, topK: 4 } },
  { label: 'T=1 top-p 0.7', logits: ROW, o: { temperature: 1, topP: 0.7 } },
  { label: 'T=1 penalty 2 (host history)', logits: ROW, o: { temperature: 1, repetitionPenalty: 2, prev: [...PREV, 5] }, viaHistory: true },
  { label: 'T=0.9 penalty 1.8 top-k 8 top-p 0.9', logits: ROW, o: { temperature: 0.9, topK: 8, topP: 0.9, repetitionPenalty: 1.8, prev: PREV } },
];

describe('sample (distributions: χ² at p = 1e-3 against HF semantics; excluded ids never drawn)', () => {
  it('the CPU reference agrees with HF\'s processors run in torch (tolerance 1e-12)', () => {
    const input = CASES.map((c) => ({ logits: Array.from(c.logits), ...c.o, penalty: c.o.repetitionPenalty ?? 1, prev: c.o.prev?.filter((i) => i >= 0 && i < V) }));
    const hf = JSON.parse(execFileSync(PYTHON, ['-c', HF_SCRIPT], { input: JSON.stringify(input), encoding: 'utf8' })) as number[][];
    let worst = 0;
    CASES.forEach((c, j) => {
      const ref = sampleProbsRef(c.logits, { ...c.o, prevIds: c.o.prev });
      hf[j].forEach((p, i) => (worst = Math.max(worst, Math.abs(p - ref[i]))));
    });
    console.log(`sampleProbsRef vs HF in torch: worst |Δp| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-12);
  });

  for (const c of CASES) {
    it(`draws from the reference distribution: ${c.label}`, async () => {
      const rt = await gpu();
      const { prev, ...o } = c.o;
      const ids = await draw(rt, c.logits, DRAWS, { ...o, ...(c.viaHistory ? { history: prev } : { prev }), seed: 1234, step: 7 });
      expectDistribution(c.label, ids, sampleProbsRef(c.logits, { ...o, prevIds: prev }));
    });
  }

  for (const topP of [0.88, 0.92]) {
    it(`top-p ${topP} cuts the nucleus where HF does (boundary token at 4% of the mass)`, async () => {
      // Five tokens of mass .3 .25 .2 .15 .04 at scattered ids past the first workgroup stride, the rest
      // spread over 295 ids: p = .88 keeps four (the fifth has .9 above it), p = .92 keeps five.
      const n = 300;
      const big = [0.3, 0.25, 0.2, 0.15, 0.04];
      const at = [257, 3, 299, 128, 42];
      const logits = new Float32Array(n).fill(Math.log(0.06 / (n - 5)));
      at.forEach((id, j) => (logits[id] = Math.log(big[j])));
      const rt = await gpu();
      const ids = await draw(rt, logits, 256, { temperature: 1, topP, seed: 99 });
      const ref = sampleProbsRef(logits, { temperature: 1, topP });
      const kept = at.filter((id) => ref[id] > 0);
      expect(kept.length).toBe(topP === 0.88 ? 4 : 5);
      expect([...new Set(ids)].sort((a, b) => a - b)).toEqual([...kept].sort((a, b) => a - b));
      expectDistribution(`top-p ${topP} nucleus`, ids, ref);
    });
  }

  it('handles a Qwen-sized row (151,936 logits, 151,665 in the tokenizer): draws stay in the reference\'s kept set', async () => {
    const rt = await gpu();
    const [V, vocab] = [151936, 151665];
    const row = randn(V, 9, 3);
    for (const o of [{ temperature: 0.6, topK: 50 }, { temperature: 0.6, topP: 0.95 }, { temperature: 1, topK: 1000, topP: 0.9 }]) {
      const ref = sampleProbsRef(row, { ...o, vocab });
      const ids = await draw(rt, row, 4, { ...o, vocab, seed: 17 });
      for (const id of ids) expect(ref[id], `${JSON.stringify(o)} drew ${id}`).toBeGreaterThan(0);
    }
  });

  it('keeps every tie at the k-th value, as HF', async () => {
    const rt = await gpu();
    const logits = new Float32Array([1, 2, 3, 2, 0.5, 2, -1]);
    const ids = await draw(rt, logits, 256, { temperature: 1, topK: 2, seed: 5 });
    const ref = sampleProbsRef(logits, { temperature: 1, topK: 2 });
    expect([...new Set(ids)].sort()).toEqual([1, 2, 3, 5]);
    expectDistribution('top-k ties', ids, ref);
  });
});

describe('sample (greedy and determinism: exact ids)', () => {
  it('temperature 0 is the argmax of each row (first among equals), with the repetition penalty applied', async () => {
    const rt = await gpu();
    const [B, n] = [3, 1000];
    const data = randn(B * n, 21);
    data[1 * n + 700] = 9; // row 1: a tie, the lower id wins
    data[1 * n + 900] = 9;
    data[2 * n + 10] = 8; // row 2: penalised from 8 to 8 / 1.5 < 7
    data[2 * n + 20] = 7;
    const prev = new Int32Array([-1, -1, 999, -1, 10, 10]); // [B, 2]
    const logits = rt.upload(data, [B, n]);
    const prevIds = rt.upload(prev, [B, 2]);
    const ids = Array.from((await rt.read(sampleTokens(rt, logits, { temperature: 0, repetitionPenalty: 1.5, prevIds }))) as Int32Array);
    const want = [0, 1, 2].map((b) => {
      const p = sampleProbsRef(data.subarray(b * n, (b + 1) * n), { temperature: 0, repetitionPenalty: 1.5, prevIds: prev.subarray(b * 2, b * 2 + 2) });
      return p.indexOf(1);
    });
    expect(want[1]).toBe(700);
    expect(want[2]).toBe(20);
    expect(ids).toEqual(want);
    logits.dispose();
    prevIds.dispose();
  });

  it('top-k 1 always draws the argmax, whatever the seed and step', async () => {
    const rt = await gpu();
    const row = randn(777, 31);
    const argmax = row.indexOf(Math.max(...row));
    for (const [seed, step] of [[0, 0], [1, 2], [0xffffffff, 123456]]) {
      const ids = await draw(rt, row, 16, { temperature: 2, topK: 1, seed, step });
      expect(Array.from(ids)).toEqual(new Array(16).fill(argmax));
    }
  });

  it('never draws the padded columns past `vocab`', async () => {
    const rt = await gpu();
    const row = randn(40, 41);
    row[35] = 50; // a padded column that would win everything
    const greedy = await draw(rt, row, 1, { temperature: 0, vocab: 32 });
    expect(greedy[0]).toBe(row.subarray(0, 32).indexOf(Math.max(...row.subarray(0, 32))));
    const ids = await draw(rt, row, 64, { temperature: 1.5, seed: 3, vocab: 32 });
    expect(Math.max(...ids)).toBeLessThan(32);
  });

  it('is a pure function of (seed, step, row)', async () => {
    const rt = await gpu();
    const row = randn(50, 51);
    const a = await draw(rt, row, 64, { temperature: 1, seed: 1, step: 0 });
    const again = await draw(rt, row, 64, { temperature: 1, seed: 1, step: 0 });
    const nextStep = await draw(rt, row, 64, { temperature: 1, seed: 1, step: 1 });
    const otherSeed = await draw(rt, row, 64, { temperature: 1, seed: 2, step: 0 });
    expect(Array.from(again)).toEqual(Array.from(a));
    const same = (x: Int32Array, y: Int32Array) => x.filter((v, i) => v === y[i]).length;
    // Independent draws from this row agree about as often as Σp² ≈ a few percent of rows.
    expect(same(a, nextStep)).toBeLessThan(32);
    expect(same(a, otherSeed)).toBeLessThan(32);
  });

  it('takes a [V] row and returns [1]', async () => {
    const rt = await gpu();
    const logits = rt.upload(new Float32Array([0, 5, 1]), [3]);
    const out = sampleTokens(rt, logits, { temperature: 0 });
    expect(out.shape).toEqual([1]);
    expect(Array.from((await rt.read(out)) as Int32Array)).toEqual([1]);
    logits.dispose();
    out.dispose();
  });

  it('refuses bad options with messages that name them', async () => {
    const rt = await gpu();
    const logits = rt.upload(new Float32Array(8), [2, 4], 'f32', 'lm_logits');
    const prevIds = rt.upload(new Int32Array(3), [3, 1], 'i32', 'prev');
    expect(() => sampleTokens(rt, logits, { temperature: -1 })).toThrow(/temperature must be ≥ 0, got -1/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, topP: 0 })).toThrow(/topP must be in \(0, 1\], got 0/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, topK: 1.5 })).toThrow(/topK must be an integer/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, repetitionPenalty: 0 })).toThrow(/repetitionPenalty must be > 0/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, vocab: 5 })).toThrow(/vocab 5 is outside \[1, 4\] for logits lm_logits\[2,4\]:f32/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, prevIds })).toThrow(/prevIds prev\[3,1\]:i32 should be \[2, L\]/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, prevIds, history: [1] })).toThrow(/give prevIds or history, not both/);
    expect(() => sampleTokens(rt, logits, { temperature: 1, seed: -1 })).toThrow(/seed must be an integer in \[0, 2\^32\)/);
    logits.dispose();
    prevIds.dispose();
  });
});

/**
 * The engine's loss kernels against the torch worker's losses.py (float64 in torch) on the same
 * inputs: every divergence dense and sparse, plain CE, the hidden-state terms and the fused LM-head
 * driver against distill_loss_chunked on HeadLogits. Values and gradients, ≤ 1e-5 relative.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn, relErr, worst } from '../helpers/numeric.ts';
import { distillLossRows, distillLossTotals, type RowLossConfig } from '../../src/engine/kernels/distill_loss.ts';
import { sparseLossRows, uploadSparseTargets } from '../../src/engine/kernels/sparse_loss.ts';
import { hiddenLoss, type HiddenLossKind } from '../../src/engine/kernels/hidden_loss.ts';
import { fusedDistillLoss } from '../../src/engine/loss/fused-lm-loss.ts';

const PYTHON = process.env.RETORT_PYTHON ?? '/usr/bin/python3';
const TOL = 1e-5;

// Reads the cases from argv[1] (JSON), runs losses.py on each in float64, prints the results as JSON.
const SCRIPT = String.raw`
import json, sys
sys.path.insert(0, 'src/runner/torch')
import torch
from retort_torch import losses as L

torch.set_default_dtype(torch.float64)
cases = json.load(open(sys.argv[1]))
def t(x, shape, dtype=torch.float64): return torch.tensor(x, dtype=dtype).reshape(shape)
def cfg(c): return L.LossConfig(divergence=c['divergence'], alpha=c['alpha'], temperature=c['temperature'],
                                 beta=c.get('beta', 0.5), skew=c.get('lambda', 0.1))
out = []
for c in cases:
    N = c['N']
    labels = t(c['labels'], [N], torch.long)
    mask = (labels >= 0).long()
    if c['kind'] in ('dense', 'sparse'):
        z = t(c['student'], [N, c['stride']]).requires_grad_(True)
        if c['kind'] == 'dense':
            teacher = t(c['teacher'], [N, c['strideT']])
        else:
            teacher = L.SparseTargets(t(c['ids'], [N, c['k']], torch.long), t(c['logprobs'], [N, c['k']]))
        parts = L.distill_loss(z, teacher, labels, mask, cfg(c['config']), vocab_size=c['V'], normalizer=c['count'])
        parts.total.backward()
        out.append({'loss': parts.total.item(), 'soft': parts.soft.item(), 'hard': parts.hard.item(),
                    'grad': z.grad.reshape(-1).tolist()})
    elif c['kind'] == 'fused':
        hs = t(c['hS'], [N, c['C']]).requires_grad_(True)
        ws = t(c['wS'], [c['Vpad'], c['C']]).requires_grad_(True)
        ht = t(c['hT'], [N, c['Ct']])
        wt = t(c['wT'], [c['VpadT'], c['Ct']])
        parts = L.distill_loss_chunked(L.HeadLogits(hs, ws), L.HeadLogits(ht, wt), labels, mask, cfg(c['config']),
                                       vocab_size=c['V'], chunk_tokens=c['chunk'], normalizer=c['count'])
        parts.total.backward()
        out.append({'loss': parts.total.item(), 'soft': parts.soft.item(), 'hard': parts.hard.item(),
                    'dhS': hs.grad.reshape(-1).tolist(), 'dwS': ws.grad.reshape(-1).tolist()})
    else:  # hidden
        hs = t(c['hS'], [N, c['Ds']]).requires_grad_(True)
        proj = L.HiddenProjection(c['Ds'], c['Dt']).double()
        with torch.no_grad():
            proj.weight.copy_(t(c['W'], [c['Dt'], c['Ds']]))
            proj.bias.copy_(t(c['b'], [c['Dt']]))
        loss = L.hidden_loss(hs, t(c['hT'], [N, c['Dt']]), proj, mask, kind=c['hidden'], normalizer=c['count'])
        loss.backward()
        out.append({'loss': loss.item(), 'dhS': hs.grad.reshape(-1).tolist(),
                    'dW': proj.weight.grad.reshape(-1).tolist(), 'db': proj.bias.grad.reshape(-1).tolist()})
print('@@RESULT@@' + json.dumps(out))
`;

type Case = Record<string, unknown> & { kind: 'dense' | 'sparse' | 'fused' | 'hidden'; N: number };
type Result = { loss: number; soft?: number; hard?: number; grad?: number[]; dhS?: number[]; dwS?: number[]; dW?: number[]; db?: number[] };

function runTorch(cases: Case[]): Result[] {
  const dir = mkdtempSync(join(tmpdir(), 'retort-loss-'));
  try {
    const file = join(dir, 'cases.json');
    writeFileSync(file, JSON.stringify(cases));
    const res = spawnSync(PYTHON, ['-c', SCRIPT, file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20, timeout: 180_000 });
    if (res.error) throw new Error(`${PYTHON}: ${res.error.message}`);
    if (res.status !== 0) throw new Error(`${PYTHON} exited with ${res.status}:\n${res.stderr}`);
    const at = res.stdout.lastIndexOf('@@RESULT@@');
    if (at < 0) throw new Error(`${PYTHON}: no result; stderr:\n${res.stderr}`);
    return JSON.parse(res.stdout.slice(at + '@@RESULT@@'.length)) as Result[];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const tag = (c: RowLossConfig) =>
  `${c.divergence} T=${c.temperature} α=${c.alpha}${c.beta !== undefined ? ` β=${c.beta}` : ''}${c.lambda !== undefined ? ` λ=${c.lambda}` : ''}`;

// Every divergence, GKD's endpoints and a plain-CE (α = 0) case; T on both sides of 1.
const CONFIGS: RowLossConfig[] = [
  { divergence: 'forward-kl', temperature: 2, alpha: 0.5 },
  { divergence: 'reverse-kl', temperature: 0.8, alpha: 0.7 },
  { divergence: 'gjsd', temperature: 1.5, alpha: 0.6, beta: 0.5 },
  { divergence: 'gjsd', temperature: 1, alpha: 1, beta: 0 },
  { divergence: 'gjsd', temperature: 1, alpha: 1, beta: 1 },
  { divergence: 'skew-kl', temperature: 1.2, alpha: 0.9, lambda: 0.1 },
  { divergence: 'skew-reverse-kl', temperature: 2, alpha: 0.8, lambda: 0.3 },
  { divergence: 'tvd', temperature: 1.3, alpha: 0.5 },
  { divergence: 'forward-kl', temperature: 1, alpha: 0 },
];

// Dense rows: vocab 45 padded to 48 (student) and 50 (teacher); one masked token.
const [N, V, S, St] = [5, 45, 48, 50];
const labels = Int32Array.from([3, -1, 44, 0, 17]);
const count = 4;
const zs = randn(N * S, 1, 2);
const zt = randn(N * St, 2, 2);
// Sparse: k = 6 slots, the last unused (−1) at token 0; log-probs of a teacher softmax (tail mass left).
const k = 6;
const ids = Int32Array.from({ length: N * k }, (_, i) => (i === k - 1 ? -1 : (Math.floor(i / k) * 13 + (i % k) * 7) % V));
const logprobs = Float32Array.from({ length: N * k }, (_, i) => -1 - 0.5 * (i % k) - 0.1 * Math.floor(i / k));

const denseCases: Case[] = CONFIGS.map((config) => ({
  kind: 'dense', N, V, stride: S, strideT: St, count, config,
  student: Array.from(zs), teacher: Array.from(zt), labels: Array.from(labels),
}));
const sparseCases: Case[] = CONFIGS.map((config) => ({
  kind: 'sparse', N, V, stride: S, k, count, config,
  student: Array.from(zs), ids: Array.from(ids), logprobs: Array.from(logprobs), labels: Array.from(labels),
}));
const HIDDEN: HiddenLossKind[] = ['mse', 'cosine'];
const [Ds, Dt] = [12, 20];
const hidden = { hS: randn(N * Ds, 3), hT: randn(N * Dt, 4), W: randn(Dt * Ds, 5, 0.3), b: randn(Dt, 6) };
const hiddenCases: Case[] = HIDDEN.map((kind) => ({
  kind: 'hidden', hidden: kind, N, Ds, Dt, count, labels: Array.from(labels),
  hS: Array.from(hidden.hS), hT: Array.from(hidden.hT), W: Array.from(hidden.W), b: Array.from(hidden.b),
}));
const [C, Ct, chunk] = [8, 10, 2];
const fusedConfig: RowLossConfig = { divergence: 'gjsd', temperature: 2, alpha: 0.5, beta: 0.3 };
const fused = { hS: randn(N * C, 7), wS: randn(S * C, 8, 0.5), hT: randn(N * Ct, 9), wT: randn(St * Ct, 10, 0.5) };
const fusedCase: Case = {
  kind: 'fused', N, V, C, Ct, Vpad: S, VpadT: St, chunk, count, config: fusedConfig, labels: Array.from(labels),
  hS: Array.from(fused.hS), wS: Array.from(fused.wS), hT: Array.from(fused.hT), wT: Array.from(fused.wT),
};

describe(`losses vs the torch worker's losses.py in float64 (tolerance ${TOL} relative)`, () => {
  let torch: Result[] = [];
  beforeAll(() => {
    torch = runTorch([...denseCases, ...sparseCases, ...hiddenCases, fusedCase]);
  }, 180_000);

  CONFIGS.forEach((config, i) => {
    for (const kind of ['dense', 'sparse'] as const) {
      it(`${kind} ${tag(config)}: loss, soft, hard and dL/dz_s`, async () => {
        const rt = await gpu();
        const ref = torch[kind === 'dense' ? i : CONFIGS.length + i];
        const student = rt.upload(zs, [N, S], 'f32', 'student');
        const tl = rt.upload(labels, [N], 'i32', 'labels');
        const parts = rt.zeros([N, 2], 'f32', 'parts');
        const owned = [student, tl, parts];
        const args = { student, labels: tl, parts, rowOffset: 0, vocab: V, count, config };
        if (kind === 'dense') {
          const teacher = rt.upload(zt, [N, St], 'f32', 'teacher');
          owned.push(teacher);
          distillLossRows(rt, { ...args, teacher });
        } else {
          const targets = uploadSparseTargets(rt, { k, ids, logprobs }, N, V);
          owned.push(targets.ids, targets.logprobs);
          sparseLossRows(rt, { ...args, targets });
        }
        const totals = distillLossTotals(rt, parts, config, count);
        const got = await Promise.all([totals.loss, totals.soft, totals.hard].map((t) => rt.readScalar(t)));
        // torch skips a term whose weight is 0 (soft at α = 0, hard at α = 1) and reports 0; the engine still reports it
        const [gotSoft, refSoft] = config.alpha > 0 ? [got[1], ref.soft!] : [0, 0];
        const [gotHard, refHard] = config.alpha < 1 ? [got[2], ref.hard!] : [0, 0];
        expect(worst(`${kind} ${tag(config)} loss/soft/hard`, [got[0], gotSoft, gotHard], [ref.loss, refSoft, refHard])).toBeLessThan(TOL);
        expect(worst(`${kind} ${tag(config)} dL/dz_s`, await rt.readF32(student), ref.grad!)).toBeLessThan(TOL);
        for (const t of [...owned, totals.loss, totals.soft, totals.hard]) t.dispose();
      });
    }
  });

  HIDDEN.forEach((kind, i) => {
    it(`hidden ${kind}: loss and gradients for h_s, W, b`, async () => {
      const rt = await gpu();
      const ref = torch[2 * CONFIGS.length + i];
      const t = {
        hS: rt.upload(hidden.hS, [N, Ds]), hT: rt.upload(hidden.hT, [N, Dt]), weight: rt.upload(hidden.W, [Dt, Ds]),
        bias: rt.upload(hidden.b, [Dt]), mask: rt.upload(labels, [N], 'i32'),
      };
      const out = hiddenLoss(rt, { ...t, kind, count });
      expect(worst(`hidden ${kind} loss`, [await rt.readScalar(out.loss)], [ref.loss])).toBeLessThan(TOL);
      expect(worst(`hidden ${kind} dhS`, await rt.readF32(out.dhS), ref.dhS!)).toBeLessThan(TOL);
      expect(worst(`hidden ${kind} dW`, await rt.readF32(out.dW), ref.dW!)).toBeLessThan(TOL);
      expect(worst(`hidden ${kind} db`, await rt.readF32(out.db!), ref.db!)).toBeLessThan(TOL);
      for (const x of [...Object.values(t), out.loss, out.dhS, out.dW, out.db!]) x.dispose();
    });
  });

  it(`fused LM head ${tag(fusedConfig)} against distill_loss_chunked on HeadLogits: loss, dL/dh_s, dL/dW_s`, async () => {
    const rt = await gpu();
    const ref = torch[2 * CONFIGS.length + HIDDEN.length];
    const t = {
      hS: rt.upload(fused.hS, [N, C]), wS: rt.upload(fused.wS, [S, C]), hT: rt.upload(fused.hT, [N, Ct]), wT: rt.upload(fused.wT, [St, Ct]),
    };
    const dwS = rt.zeros([S, C], 'f32', 'wS.grad');
    const out = fusedDistillLoss(rt, { ...fusedConfig, ...t, labels, logitVocab: V, count, chunkTokens: chunk, dwS });
    const got = await Promise.all([out.loss, out.soft, out.hard].map((x) => rt.readScalar(x)));
    expect(worst('fused loss/soft/hard', got, [ref.loss, ref.soft!, ref.hard!])).toBeLessThan(TOL);
    expect(worst('fused dL/dh_s', await rt.readF32(out.dhS), ref.dhS!)).toBeLessThan(TOL);
    expect(worst('fused dL/dW_s', await rt.readF32(dwS), ref.dwS!)).toBeLessThan(TOL);
    for (const x of [...Object.values(t), dwS, out.loss, out.soft, out.hard, out.dhS]) x.dispose();
  });
});

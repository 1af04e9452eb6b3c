import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn } from '../../helpers/numeric.ts';
import { AdamW } from '../../../src/engine/optim/adamw.ts';
import { adamwStepRef, type AdamWRefParam } from '../../../src/engine/kernels/adamw.ref.ts';
import type { Runtime } from '../../../src/engine/runtime.ts';
import type { Tensor } from '../../../src/engine/tensor.ts';

const PYTHON = process.env.RETORT_PYTHON ?? '/usr/bin/python3';

// torch.optim.AdamW with clip_grad_norm_, skipping optimizer.step() when the norm is not finite (as
// GradScaler does). JSON in and out; NaN travels as the string "NaN".
const TORCH_SCRIPT = `
import json, sys, torch
d = json.load(sys.stdin)
num = lambda xs: [float(x) for x in xs]
ps = [torch.tensor(num(p), dtype=torch.float32, requires_grad=True) for p in d['params']]
opt = torch.optim.AdamW([{'params': [p], 'weight_decay': wd} for p, wd in zip(ps, d['wd'])],
                        lr=d['lrs'][0], betas=(d['beta1'], d['beta2']), eps=d['eps'])
norms, skipped = [], []
for lr, grads in zip(d['lrs'], d['grads']):
    for p, g in zip(ps, grads):
        p.grad = torch.tensor(num(g), dtype=torch.float32)
    for group in opt.param_groups:
        group['lr'] = lr
    if d['maxNorm'] > 0:
        norm = torch.nn.utils.clip_grad_norm_(ps, d['maxNorm'])
    else:
        norm = torch.norm(torch.stack([torch.norm(p.grad) for p in ps]))
    ok = bool(torch.isfinite(norm))
    norms.append(float(norm) if ok else 'NaN')
    skipped.append(not ok)
    if ok:
        opt.step()
state = [opt.state[p] for p in ps]
print(json.dumps({'params': [p.detach().tolist() for p in ps], 'm': [s['exp_avg'].tolist() for s in state],
                  'v': [s['exp_avg_sq'].tolist() for s in state], 'step': [float(s['step']) for s in state],
                  'norms': norms, 'skipped': skipped}))
`;

interface TorchResult { params: number[][]; m: number[][]; v: number[][]; step: number[]; norms: (number | 'NaN')[]; skipped: boolean[] }

function torchAdamW(input: object): TorchResult {
  const json = JSON.stringify(input, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x));
  return JSON.parse(execFileSync(PYTHON, ['-c', TORCH_SCRIPT], { input: json, encoding: 'utf8' })) as TorchResult;
}

/** DESIGN.md's relative error over a list of tensors: max|a − b| / max|b|. */
function rel(got: ArrayLike<number>[], want: ArrayLike<number>[]): number {
  let d = 0;
  let s = 0;
  got.forEach((g, j) => {
    for (let i = 0; i < g.length; i++) {
      d = Math.max(d, Math.abs(g[i] - want[j][i]));
      s = Math.max(s, Math.abs(want[j][i]));
    }
  });
  return d / s;
}

const SHAPES = [[37], [5, 13], [300]];
const WD = [0.01, 0, 0.1];
const STEPS = 6;
const NAN_STEP = 3;

function makeParams(rt: Runtime): Tensor[] {
  return SHAPES.map((shape, j) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = rt.upload(randn(n, 7 + j), shape, 'f32', `layer${j}.weight`);
    t.requiresGrad = true;
    return t;
  });
}

function stepGrads(step: number): Float32Array[] {
  return SHAPES.map((shape, j) => {
    const g = randn(shape.reduce((a, b) => a * b, 1), 1000 * step + j, 0.5 + step);
    if (step === NAN_STEP && j === 1) g[17] = NaN;
    return g;
  });
}

const LRS = Array.from({ length: STEPS }, (_, s) => 1e-2 * (s + 1) / STEPS); // a warm-up, as the host computes it

describe('AdamW (tolerance 1e-6 relative vs torch.optim.AdamW + clip_grad_norm_, and vs the float64 reference)', () => {
  for (const maxNorm of [3, 0]) {
    it(`${STEPS} steps ${maxNorm ? `clipped to ‖g‖ ≤ ${maxNorm}` : 'without clipping'}, per-group weight decay, a NaN step skipped`, async () => {
      const rt = await gpu();
      const params = makeParams(rt);
      const opt = new AdamW(rt, params.map((p, j) => ({ params: [p], weightDecay: WD[j] })), { maxGradNorm: maxNorm });
      const ref: AdamWRefParam[] = params.map((p, j) => ({ p: Float64Array.from(randn(p.size, 7 + j)), m: new Float64Array(p.size), v: new Float64Array(p.size), weightDecay: WD[j] }));
      const o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, maxNorm };
      const allGrads: Float32Array[][] = [];
      let refStep = 0;
      let poolCreated = -1;
      let worstNorm = 0;
      for (let s = 0; s < STEPS; s++) {
        const grads = stepGrads(s);
        allGrads.push(grads);
        params.forEach((p, j) => {
          if (p.grad) rt.write(p.grad, grads[j]);
          else p.grad = rt.upload(grads[j], p.shape, 'f32', `${p.name}.grad`);
        });
        const before = s === NAN_STEP ? await Promise.all(params.map((p) => rt.readF32(p))) : null;
        opt.step(LRS[s]);
        const r = adamwStepRef(ref, grads, refStep, { ...o, lr: LRS[s] });
        refStep = r.step;
        expect(await opt.lastStepSkipped(), `step ${s}`).toBe(s === NAN_STEP);
        const norm = await opt.gradNorm();
        if (s === NAN_STEP) {
          expect(norm).toBeNaN();
          const after = await Promise.all(params.map((p) => rt.readF32(p)));
          after.forEach((a, j) => expect(Array.from(a), `${params[j].name} changed on a skipped step`).toEqual(Array.from(before![j])));
        } else {
          worstNorm = Math.max(worstNorm, Math.abs(norm - r.norm) / r.norm);
          if (maxNorm) expect(r.norm).toBeGreaterThan(maxNorm); // clipping is active
        }
        if (s === 1) poolCreated = rt.pool.created;
      }
      expect(rt.pool.created, 'buffers created after the first steps').toBe(poolCreated);

      const state = await opt.state();
      const gpuP = await Promise.all(params.map((p) => rt.readF32(p)));
      const torch = torchAdamW({ params: params.map((_, j) => Array.from(randn(params[j].size, 7 + j))), wd: WD, lrs: LRS, grads: allGrads.map((gs) => gs.map((g) => Array.from(g))), ...o });
      expect(torch.skipped).toEqual(Array.from({ length: STEPS }, (_, s) => s === NAN_STEP));
      expect(state.step).toBe(STEPS - 1);
      expect(torch.step).toEqual(SHAPES.map(() => STEPS - 1));
      const vsTorch = { p: rel(gpuP, torch.params), m: rel(state.m, torch.m), v: rel(state.v, torch.v) };
      const vsRef = { p: rel(gpuP, ref.map((q) => q.p)), m: rel(state.m, ref.map((q) => q.m)), v: rel(state.v, ref.map((q) => q.v)) };
      const refVsTorch = rel(ref.map((q) => q.p), torch.params);
      console.log(`AdamW maxNorm=${maxNorm}: vs torch p ${vsTorch.p.toExponential(2)} m ${vsTorch.m.toExponential(2)} v ${vsTorch.v.toExponential(2)}; ` +
        `vs float64 p ${vsRef.p.toExponential(2)} m ${vsRef.m.toExponential(2)} v ${vsRef.v.toExponential(2)}; ` +
        `float64 vs torch p ${refVsTorch.toExponential(2)}; grad norm ${worstNorm.toExponential(2)}`);
      for (const e of [...Object.values(vsTorch), ...Object.values(vsRef), refVsTorch, worstNorm]) expect(e).toBeLessThan(1e-6);
      // Parameters actually moved (a no-op optimizer would otherwise pass the skip check).
      expect(rel(gpuP, params.map((_, j) => randn(params[j].size, 7 + j)))).toBeGreaterThan(1e-3);
      opt.dispose();
      for (const p of params) p.dispose();
    });
  }

  it('resumes from state()/load() exactly as if it had never stopped', async () => {
    const rt = await gpu();
    const a = makeParams(rt);
    const b = makeParams(rt);
    const optA = new AdamW(rt, a, { maxGradNorm: 1 });
    for (const s of [0, 1]) {
      a.forEach((p, j) => (p.grad = rt.upload(stepGrads(s)[j], p.shape)));
      optA.step(1e-2);
    }
    const saved = await optA.state();
    for (const [j, p] of b.entries()) rt.write(p, await rt.readF32(a[j]));
    const optB = new AdamW(rt, b, { maxGradNorm: 1 });
    optB.load(saved);
    for (const [p, opt] of [[a, optA], [b, optB]] as const) {
      p.forEach((t, j) => (t.grad = rt.upload(stepGrads(2)[j], t.shape)));
      opt.step(1e-2);
    }
    for (const [j, p] of a.entries()) expect(Array.from(await rt.readF32(b[j]))).toEqual(Array.from(await rt.readF32(p)));
    expect((await optB.state()).step).toBe(3);
    optA.dispose();
    optB.dispose();
    for (const p of [...a, ...b]) p.dispose();
  });

  it('refuses bad parameters, hyper-parameters and states with messages that name them', async () => {
    const rt = await gpu();
    const p = rt.zeros([4], 'f32', 'norm.weight');
    const packed = rt.zeros([4], 'bf16', 'embed.weight');
    expect(() => new AdamW(rt, [packed])).toThrow(/embed\.weight\[4\]:bf16 is not f32/);
    expect(() => new AdamW(rt, [p], { beta2: 1 })).toThrow(/beta2 must be in \[0, 1\), got 1/);
    expect(() => new AdamW(rt, [p, p])).toThrow(/norm\.weight\[4\]:f32 is listed twice/);
    const opt = new AdamW(rt, [p]);
    await expect(opt.gradNorm()).rejects.toThrow(/no step has been taken yet/);
    p.grad = rt.zeros([5], 'f32', 'norm.weight.grad');
    expect(() => opt.step(1e-3)).toThrow(/gradient norm\.weight\.grad\[5\]:f32 does not match parameter norm\.weight\[4\]:f32/);
    expect(() => opt.step(NaN)).toThrow(/lr must be a finite number/);
    const good = { step: 1, names: ['norm.weight'], m: [new Float32Array(4)], v: [new Float32Array(4)] };
    expect(() => opt.load({ ...good, v: [new Float32Array(3)] })).toThrow(/exp_avg_sq of norm\.weight\[4\]:f32 has 3 values, expected 4/);
    expect(() => opt.load({ ...good, names: ['lm_head.weight'] })).toThrow(/state tensor 0 is for "lm_head\.weight", parameter 0 is "norm\.weight"/);
    expect(() => opt.load({ ...good, m: [] })).toThrow(/state holds 0 exp_avg \/ 1 exp_avg_sq tensors, the optimizer has 1 parameters/);
    opt.dispose();
    for (const t of [p, packed]) t.dispose();
  });
});

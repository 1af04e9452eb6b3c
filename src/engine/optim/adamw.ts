import { gradNorm, readGradNorm } from '../kernels/grad_norm.ts';
import { adamwPrepare, adamwUpdate, HYPER, HYPER_WORDS, type AdamWHyper } from '../kernels/adamw.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';

export interface AdamWOptions {
  /** torch defaults: betas (0.9, 0.999), eps 1e-8, weight_decay 0.01. */
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** clip_grad_norm_'s max_norm over all parameters; undefined, 0 or Infinity: no clipping. */
  maxGradNorm?: number;
}

/** Parameters sharing a weight decay (e.g. 0 for norms and biases), as torch's param groups. */
export interface ParamGroup {
  params: readonly Tensor[];
  weightDecay?: number;
}

/** Checkpointable optimizer state: moments in parameter order, named by the parameters. */
export interface AdamWState {
  /** Updates applied (skipped steps do not count), torch's `state[p]['step']`. */
  step: number;
  names: string[];
  m: Float32Array[];
  v: Float32Array[];
}

interface Slot {
  param: Tensor;
  m: Tensor;
  v: Tensor;
  weightDecay: number;
}

/**
 * torch.optim.AdamW with clip_grad_norm_ and a NaN/Inf guard, entirely on the GPU: `step(lr)` encodes
 * the global grad norm, the per-step scalars and one update per parameter, with no read back. A step
 * whose gradients hold NaN/Inf leaves weights, moments and t untouched, so the last good weights stay.
 * Moments are allocated once, here; each step reuses the same buffers.
 */
export class AdamW {
  private readonly slots: Slot[];
  private readonly hyper: Tensor; // [5] u32: t, skipped, clip, stepSize, sqrt(bc2)
  private readonly norm: Tensor; // [2] u32: ‖g‖² bits, nonfinite
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly maxGradNorm: number;
  private stepped = false;

  constructor(
    private readonly rt: Runtime,
    params: readonly Tensor[] | readonly ParamGroup[],
    opts: AdamWOptions = {},
  ) {
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    const max = opts.maxGradNorm ?? 0;
    this.maxGradNorm = Number.isFinite(max) && max > 0 ? max : 0;
    for (const [name, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new Error(`AdamW: ${name} must be in [0, 1), got ${b}`);
    }
    if (!(this.eps >= 0)) throw new Error(`AdamW: eps must be ≥ 0, got ${this.eps}`);
    const groups: readonly ParamGroup[] = params.length > 0 && 'params' in params[0] ? (params as readonly ParamGroup[]) : [{ params: params as readonly Tensor[] }];
    this.slots = [];
    for (const g of groups) {
      const weightDecay = g.weightDecay ?? opts.weightDecay ?? 0.01;
      if (!(weightDecay >= 0)) throw new Error(`AdamW: weight decay must be ≥ 0, got ${weightDecay}`);
      for (const p of g.params) {
        if (p.dtype !== 'f32') throw new Error(`AdamW: parameter ${p.describe()} is not f32 (train f32 master weights)`);
        if (this.slots.some((s) => s.param === p)) throw new Error(`AdamW: parameter ${p.describe()} is listed twice`);
        const name = p.name || `param${this.slots.length}`;
        this.slots.push({ param: p, m: rt.zeros(p.shape, 'f32', `${name}.exp_avg`), v: rt.zeros(p.shape, 'f32', `${name}.exp_avg_sq`), weightDecay });
      }
    }
    this.hyper = rt.zeros([HYPER_WORDS], 'u32', 'adamw.hyper');
    this.norm = rt.zeros([2], 'u32', 'adamw.grad_norm');
  }

  /**
   * One optimizer step at learning rate `lr` (the schedule is the caller's). Parameters whose `.grad`
   * is null are left alone, as in torch; the norm for clipping spans the gradients present.
   */
  step(lr: number): void {
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`AdamW.step: lr must be a finite number ≥ 0, got ${lr}`);
    const live = this.slots.filter((s) => s.param.grad !== null);
    for (const s of live) {
      const g = s.param.grad as Tensor;
      if (g.size !== s.param.size) throw new Error(`AdamW.step: gradient ${g.describe()} does not match parameter ${s.param.describe()}`);
    }
    gradNorm(this.rt, live.map((s) => s.param.grad as Tensor), this.norm);
    const h: AdamWHyper = { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: 0 };
    adamwPrepare(this.rt, this.norm, this.hyper, h, this.maxGradNorm);
    for (const s of live) adamwUpdate(this.rt, s.param, s.param.grad as Tensor, s.m, s.v, this.hyper, { ...h, weightDecay: s.weightDecay });
    this.stepped = true;
  }

  /** Whether the last `step` was skipped because a gradient was NaN/Inf (reads 4 bytes). */
  async lastStepSkipped(): Promise<boolean> {
    this.requireStep('lastStepSkipped');
    return (await this.rt.read(this.hyper, HYPER.skipped * 4, 4))[0] !== 0;
  }

  /** The global L2 norm of the gradients at the last `step`, before clipping (NaN when not finite; reads 8 bytes). */
  async gradNorm(): Promise<number> {
    this.requireStep('gradNorm');
    const { sumSq, nonFinite } = await readGradNorm(this.rt, this.norm);
    return nonFinite ? NaN : Math.sqrt(sumSq);
  }

  async state(): Promise<AdamWState> {
    const step = (await this.rt.read(this.hyper, HYPER.step * 4, 4))[0];
    const m: Float32Array[] = [];
    const v: Float32Array[] = [];
    for (const s of this.slots) {
      m.push(await this.rt.readF32(s.m));
      v.push(await this.rt.readF32(s.v));
    }
    return { step, names: this.slots.map((s) => s.param.name), m, v };
  }

  /** Restores `state()` output; parameters must come in the same order with the same sizes (and names, when both have one). */
  load(state: AdamWState): void {
    const where = 'AdamW.load';
    if (state.m.length !== this.slots.length || state.v.length !== this.slots.length) {
      throw new Error(`${where}: state holds ${state.m.length} exp_avg / ${state.v.length} exp_avg_sq tensors, the optimizer has ${this.slots.length} parameters`);
    }
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`${where}: step must be an integer ≥ 0, got ${state.step}`);
    this.slots.forEach((s, i) => {
      const name = state.names?.[i];
      if (name && s.param.name && name !== s.param.name) throw new Error(`${where}: state tensor ${i} is for "${name}", parameter ${i} is "${s.param.name}"`);
      for (const [what, a] of [['exp_avg', state.m[i]], ['exp_avg_sq', state.v[i]]] as const) {
        if (a.length !== s.param.size) throw new Error(`${where}: ${what} of ${s.param.describe()} has ${a.length} values, expected ${s.param.size}`);
      }
      this.rt.write(s.m, state.m[i]);
      this.rt.write(s.v, state.v[i]);
    });
    this.rt.write(this.hyper, new Uint32Array([state.step, 0, 0, 0, 0]));
  }

  dispose(): void {
    for (const s of this.slots) {
      s.m.dispose();
      s.v.dispose();
    }
    this.hyper.dispose();
    this.norm.dispose();
  }

  private requireStep(what: string): void {
    if (!this.stepped) throw new Error(`AdamW.${what}: no step has been taken yet`);
  }
}

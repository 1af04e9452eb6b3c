import source from './rope.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { ModelSpec } from '../../core/model-spec.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { flatGrid } from './elementwise.ts';

const ROPE = defineKernel({
  name: 'rope',
  source,
  bindings: [
    { name: 'x', access: 'read', type: 'f32' },
    { name: 'positions', access: 'read', type: 'i32' },
    { name: 'invFreq', access: 'read', type: 'f32' },
    { name: 'out', access: 'read_write', type: 'f32' },
  ],
  params: { N: 'u32', H: 'u32', half: 'u32', sign: 'f32', scale: 'f32' },
});

export type RopeSpec = Pick<ModelSpec, 'headDim' | 'ropeTheta' | 'ropeScaling' | 'maxPositions'>;

const f = Math.fround;

/**
 * inv_freq [D/2] as transformers' `_compute_{default,linear,llama3,yarn}_rope_parameters` builds it —
 * in float32, one rounding per tensor op (hence the `f` calls), so the frequencies are the same bits.
 * Mirrors `rope_inv_freq` of the torch worker's model.py.
 */
export function ropeInvFreq(spec: RopeSpec): Float32Array {
  const D = spec.headDim;
  if (!Number.isInteger(D) || D <= 0 || D % 2 !== 0) throw new Error(`ropeInvFreq: head_dim ${D} must be a positive even integer`);
  const theta = f(spec.ropeTheta);
  const half = D / 2;
  // base ** (arange(0, D, 2).float() / D)
  const posFreq = Float32Array.from({ length: half }, (_, i) => f(Math.pow(theta, f((2 * i) / D))));
  const inv = posFreq.map((p) => f(1 / p));
  const s = spec.ropeScaling;
  switch (s.type) {
    case 'none':
      return inv;
    case 'linear':
      return inv.map((v) => f(v / f(s.factor)));
    case 'llama3': {
      const old = s.originalMaxPositionEmbeddings || spec.maxPositions;
      const lowWavelen = f(old / s.lowFreqFactor);
      const highWavelen = f(old / s.highFreqFactor);
      return inv.map((v) => {
        const wavelen = f(f(2 * Math.PI) / v);
        // long wavelengths are interpolated by `factor`, short ones kept, the band between blended
        const scaled = wavelen > lowWavelen ? f(v / f(s.factor)) : v;
        const smooth = f(f(f(f(old) / wavelen) - f(s.lowFreqFactor)) / f(s.highFreqFactor - s.lowFreqFactor));
        const smoothed = f(f(f(f(1 - smooth) * scaled) / f(s.factor)) + f(smooth * scaled));
        const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
        return medium ? smoothed : scaled;
      });
    }
    case 'yarn': {
      const original = s.originalMaxPositionEmbeddings || spec.maxPositions;
      const correctionDim = (rotations: number) => (D * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(spec.ropeTheta));
      // transformers' default `truncate: true`
      let low = Math.max(Math.floor(correctionDim(s.betaFast)), 0);
      let high = Math.min(Math.ceil(correctionDim(s.betaSlow)), D - 1);
      if (low === high) high += 0.001; // a zero-width ramp would divide by zero
      return posFreq.map((p, i) => {
        const ramp = Math.min(Math.max(f(f(i - f(low)) / f(high - low)), 0), 1);
        const extrapolation = f(1 - ramp); // 1 where wavelengths are short: keep the original frequency
        return f(f(f(1 / f(f(s.factor) * p)) * f(1 - extrapolation)) + f(f(1 / p) * extrapolation));
      });
    }
  }
}

/** The factor yarn multiplies cos/sin by (transformers: attention_factor, else 0.1·ln(factor) + 1); 1 otherwise. */
export function ropeAttentionFactor(spec: RopeSpec): number {
  const s = spec.ropeScaling;
  if (s.type !== 'yarn') return 1;
  if (s.attentionFactor !== undefined) return s.attentionFactor;
  return s.factor <= 1 ? 1 : 0.1 * Math.log(s.factor) + 1;
}

export interface RopeOptions {
  /** Multiplies cos and sin (yarn's attention factor, `ropeAttentionFactor`). Default 1. */
  scale?: number;
}

function rotate(fn: string, rt: Runtime, x: Tensor, positions: Tensor, invFreq: Tensor, sign: 1 | -1, opts: RopeOptions): Tensor {
  if (x.shape.length !== 3 || x.dtype !== 'f32') throw new Error(`${fn}: ${x.describe()} must be an f32 [N, H, D]`);
  const [N, H, D] = x.shape;
  if (D % 2 !== 0) throw new Error(`${fn}: head dim of ${x.describe()} must be even`);
  if (positions.dtype !== 'i32' || positions.size !== N) throw new Error(`${fn}: positions ${positions.describe()} should be [${N}]:i32 for ${x.describe()}`);
  if (invFreq.dtype !== 'f32' || invFreq.size !== D / 2) throw new Error(`${fn}: invFreq ${invFreq.describe()} should be [${D / 2}]:f32 for ${x.describe()}`);
  const out = rt.empty(x.shape, 'f32', x.name);
  const half = D / 2;
  rt.dispatch(ROPE, {}, { N, H, half, sign, scale: opts.scale ?? 1 }, [x, positions, invFreq, out], flatGrid(N * H * half, fn));
  return out;
}

// x [N, H, D], positions [N] (i32), invFreq [D/2] → y [N, H, D] rotated by θ = position · invFreq.
export function ropeForward(rt: Runtime, x: Tensor, positions: Tensor, invFreq: Tensor, opts: RopeOptions = {}): Tensor {
  return rotate('ropeForward', rt, x, positions, invFreq, 1, opts);
}

// dy [N, H, D] → dx [N, H, D]: rotation by −θ (the forward's rotation transposed), same scale.
export function ropeBackward(rt: Runtime, dy: Tensor, positions: Tensor, invFreq: Tensor, opts: RopeOptions = {}): Tensor {
  return rotate('ropeBackward', rt, dy, positions, invFreq, -1, opts);
}

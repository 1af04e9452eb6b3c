/**
 * The weight quantization grid: the ONE definition in TypeScript, used by QAT in the engine
 * (kernels/fake_quant.wgsl follows it operation for operation), by post-training rounding and by the
 * ONNX export (q8/q4 scales, zero points and codes). The torch worker mirrors it in
 * src/runner/torch/retort_torch/qat.py; tests check all three against each other.
 *
 * A weight W [out, in] (row-major, HF's nn.Linear layout) is cut into groups of consecutive elements
 * that share one scale:
 *   int4                  `groupSize` (32 or 128) inputs of one output row  → out · in/groupSize groups
 *                         (MatMulNBits' block layout: block_size = groupSize along K = in)
 *   int8, perChannel      one output row                                     → out groups
 *   int8, per tensor      the whole matrix                                   → 1 group
 * Per group, with b bits, all arithmetic in float32:
 *   symmetric   s = max(max|W| · fl(1/qmax), FLT_MIN), qmax = 2^(b−1) − 1
 *               q = clamp(round(W / s), −qmax, qmax)                  Ŵ = q · s
 *               stored unsigned: code = q + 2^(b−1) ∈ [1, 2^b − 1], zero point 2^(b−1) (8 for int4)
 *   asymmetric  lo = min(min W, 0), hi = max(max W, 0)   (the range holds 0, so 0 is exact)
 *               s = max((hi − lo) · fl(1/(2^b − 1)), FLT_MIN)
 *               z = clamp(round(−lo / s), 0, 2^b − 1)                 (an unsigned b-bit zero point)
 *               code = clamp(round(W / s) + z, 0, 2^b − 1)            Ŵ = (code − z) · s
 *   round       round half to even (torch.round; WGSL round())
 * fl(1/n) is the float32 nearest 1/n: the scale is a product, which WGSL rounds correctly like
 * IEEE (its division may be 2.5 ulp off), so every runtime gets the same scale bit for bit; W / s is
 * a division and may land on the neighbouring level where W / s is within a few ulp of a tie.
 * FLT_MIN keeps an all-zero group at zero instead of 0/0.
 *
 * Straight-through estimator: ∂L/∂W = ∂L/∂Ŵ for every element. The grid is fitted to each group's own
 * min/max, so no weight lies outside its clipping range; the clamps only absorb round-off at the two
 * ends (e.g. round(hi/s) + z = 2^b with a half-way tie). Hence no clipping mask in backward.
 *
 * Which weights: the seven projections of every decoder layer (q/k/v/o, gate/up/down). Embeddings and
 * lm_head stay in full precision: the embedding is a lookup, not a matmul (no int4 kernel speeds it
 * up, and small Qwen models tie it to lm_head), and the head's logits rank every token of the
 * vocabulary, where quantization error costs the most accuracy for the fewest bytes saved.
 */
import type { QatConfig } from './schema/adapters.ts';

export type QuantBits = 4 | 8;

/** The resolved grid for one matrix: groups of `groupSize` consecutive elements. */
export interface QuantGrid {
  bits: QuantBits;
  symmetric: boolean;
  /** Elements per group (consecutive in row-major order). */
  groupSize: number;
}

export interface QuantizedMatrix {
  grid: QuantGrid;
  /** Unsigned codes in [0, 2^bits − 1], one per weight, row-major. */
  codes: Uint8Array;
  /** One scale per group. */
  scales: Float32Array;
  /** One zero point per group (2^(bits−1) for symmetric grids). */
  zeroPoints: Uint8Array;
}

const FLT_MIN = 2 ** -126;
const f = Math.fround;

/** Decoder-layer projection weights are quantized; embeddings, lm_head, norms and biases are not. */
const QUANTIZED = /^model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)\.weight$/;

export function isQuantizedWeight(name: string): boolean {
  return QUANTIZED.test(name);
}

/** The grid for a weight [out, in] under a QAT config; errors name the tensor. */
export function gridFor(cfg: QatConfig, shape: readonly number[], tensor: string): QuantGrid {
  if (shape.length !== 2) throw new Error(`${tensor}: quantization needs a 2-D weight, got shape [${shape}]`);
  const [out, inp] = shape;
  if (cfg.bits === 4) {
    if (inp % cfg.groupSize !== 0) {
      throw new Error(`${tensor}: input size ${inp} is not a multiple of qat.groupSize ${cfg.groupSize} (int4 groups run along the input dimension)`);
    }
    return { bits: 4, symmetric: cfg.symmetric, groupSize: cfg.groupSize };
  }
  return { bits: 8, symmetric: cfg.symmetric, groupSize: cfg.perChannel ? inp : out * inp };
}

/** fl(1/qmax) (symmetric) or fl(1/(2^bits − 1)) (asymmetric): the scale is the group's range times this. */
export function invSteps(grid: Pick<QuantGrid, 'bits' | 'symmetric'>): number {
  return f(1 / (grid.symmetric ? 2 ** (grid.bits - 1) - 1 : 2 ** grid.bits - 1));
}

/** Round half to even, as torch.round and WGSL round(). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half away from zero for positive ties, toward +∞ for negative ones
  return Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : r;
}

/** Quantizes a row-major matrix to codes, scales and zero points on `grid` (float32 arithmetic). */
export function quantize(w: Float32Array, grid: QuantGrid): QuantizedMatrix {
  const { bits, symmetric, groupSize } = grid;
  if (w.length % groupSize !== 0) throw new Error(`quantize: ${w.length} weights are not whole groups of ${groupSize}`);
  const groups = w.length / groupSize;
  const codes = new Uint8Array(w.length);
  const scales = new Float32Array(groups);
  const zeroPoints = new Uint8Array(groups);
  const levels = 2 ** bits - 1;
  const qmax = 2 ** (bits - 1) - 1;
  for (let g = 0; g < groups; g++) {
    const base = g * groupSize;
    let lo = 0; // symmetric: stays 0, so hi − lo = max|W|
    let hi = 0;
    for (let i = base; i < base + groupSize; i++) {
      if (symmetric) hi = Math.max(hi, Math.abs(w[i]));
      else {
        lo = Math.min(lo, w[i]);
        hi = Math.max(hi, w[i]);
      }
    }
    const s = Math.max(f(f(hi - lo) * invSteps(grid)), FLT_MIN);
    const z = symmetric ? qmax + 1 : clamp(roundHalfEven(f(-lo / s)), 0, levels);
    for (let i = base; i < base + groupSize; i++) {
      const r = roundHalfEven(f(w[i] / s));
      codes[i] = symmetric ? clamp(r, -qmax, qmax) + z : clamp(r + z, 0, levels);
    }
    scales[g] = s;
    zeroPoints[g] = z;
  }
  return { grid, codes, scales, zeroPoints };
}

/** Ŵ = (code − zero point) · scale. */
export function dequantize(m: QuantizedMatrix): Float32Array {
  const out = new Float32Array(m.codes.length);
  for (let i = 0; i < out.length; i++) {
    const g = Math.floor(i / m.grid.groupSize);
    out[i] = (m.codes[i] - m.zeroPoints[g]) * m.scales[g];
  }
  return out;
}

/** The CPU reference of fake quantization (the QAT forward): the weights rounded to their grid. */
export function fakeQuantize(w: Float32Array, grid: QuantGrid): Float32Array {
  return dequantize(quantize(w, grid));
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

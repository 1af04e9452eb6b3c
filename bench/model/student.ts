/**
 * The student the forward and training-step cases run: one ModelSpec, one set of host weights and one
 * batch, handed to the engine, ORT and tfjs alike so that all of them compute the same thing.
 */
import { tensorNamesFor, type ModelSpec } from '../../src/core/model-spec.ts';
import type { StudentShape } from '../protocol.ts';

export function studentSpec(s: StudentShape): ModelSpec {
  return {
    arch: 'qwen2', vocabSize: s.vocab, hidden: s.hidden, intermediate: s.intermediate, layers: s.layers,
    heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, rmsEps: 1e-6, ropeTheta: 1_000_000,
    ropeScaling: { type: 'none' }, maxPositions: Math.max(512, s.T), tieEmbeddings: true,
    qkvBias: true, oBias: false, qkNorm: false, mlpBias: false, torchDtype: 'float32', bosTokenId: null, eosTokenIds: [1],
  };
}

/** HF name → row-major values (Linear weights [out, in], as HF stores them). */
export type HostWeights = Map<string, Float32Array>;

/**
 * Deterministic random weights: matrices N(0, std²), norms 1 + N(0, 0.1²), biases N(0, (std/2)²).
 * The same recipe the engine's `randomWeights` uses, but generated here so every peer gets the same bytes.
 */
export function hostWeights(spec: ModelSpec, seed: number, std = 0.02): HostWeights {
  let s = (seed * 2654435761) >>> 0 || 1;
  const unit = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const out: HostWeights = new Map();
  for (const w of tensorNamesFor(spec)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const isNorm = w.name.endsWith('norm.weight');
    const [mean, sd] = isNorm ? [1, 0.1] : [0, w.name.endsWith('.bias') ? std / 2 : std];
    const data = new Float32Array(n);
    // Box–Muller, both outputs used: the real student has ~10⁸ values
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(unit())), t = 2 * Math.PI * unit();
      data[i] = mean + sd * r * Math.cos(t);
      if (i + 1 < n) data[i + 1] = mean + sd * r * Math.sin(t);
    }
    out.set(w.name, data);
  }
  return out;
}

export interface Batch {
  B: number;
  T: number;
  ids: Int32Array; // [B·T]
  /** Next-token targets, −1 on each row's last position (nothing to predict there). */
  labels: Int32Array; // [B·T]
  /** Tokens that carry a label: the loss's denominator. */
  count: number;
}

export function makeBatch(s: StudentShape, seed = 3): Batch {
  let r = (seed * 2654435761) >>> 0;
  const ids = Int32Array.from({ length: s.B * s.T }, () => {
    r = (Math.imul(r, 1664525) + 1013904223) >>> 0;
    return 2 + (r % (s.vocab - 2));
  });
  const labels = Int32Array.from(ids, (_, i) => ((i + 1) % s.T === 0 ? -1 : ids[i + 1]));
  return { B: s.B, T: s.T, ids, labels, count: labels.filter((l) => l >= 0).length };
}

/** The distillation loss both training steps minimise (DESIGN.md: α·T²·KL(p_t^T ‖ p_s^T) + (1 − α)·CE, forward KL). */
export const LOSS = { alpha: 0.9, temperature: 2 } as const;
export const ADAM = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, maxGradNorm: 1 } as const;

/**
 * FLOPs of one forward's matmuls (projections, attention scores and values, LM head): 2·MACs.
 * A training step is counted as 3× the student forward (forward + two backward matmuls) plus the
 * teacher's forward.
 */
export function forwardFlops(spec: ModelSpec, B: number, T: number): number {
  const { hidden: C, intermediate: I, heads: H, kvHeads: KV, headDim: D, vocabSize: V, layers: L } = spec;
  const N = B * T;
  const proj = N * C * (H * D + 2 * KV * D) + N * H * D * C + 3 * N * C * I;
  const attn = 2 * B * H * T * T * D; // QKᵀ and P·V (full squares: what the peers compute)
  return 2 * (L * (proj + attn) + N * C * V);
}

/**
 * A plain-loop float64 Qwen2 forward and the distillation loss: the independent reference the forward
 * and training-step results are checked against (HF semantics: rotate_half RoPE, repeat_kv GQA,
 * RMSNorm in float, tied LM head). Slow on purpose; the suite calls it on small shapes or on a causal
 * prefix (outputs at position t depend only on tokens ≤ t, so a prefix is exact).
 */
import type { ModelSpec } from '../../src/core/model-spec.ts';
import type { HostWeights } from './student.ts';

function get(w: HostWeights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`reference: weight ${name} is missing`);
  return t;
}

/** y[n, o] = Σ_i x[n, i] · W[o, i] (+ b[o]) — W [out, in]. */
function linear(x: Float64Array, N: number, inF: number, W: Float32Array, outF: number, b?: Float32Array): Float64Array {
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) s += x[n * inF + i] * W[o * inF + i];
      y[n * outF + o] = s;
    }
  }
  return y;
}

function rmsnorm(x: Float64Array, rows: number, C: number, w: Float32Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[r * C + c] ** 2;
    const inv = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) y[r * C + c] = x[r * C + c] * inv * w[c];
  }
  return y;
}

/** In place on [B·T, heads, D]: HF rotate_half with θ = t · θ_base^(−2i/D). */
function rope(x: Float64Array, B: number, T: number, heads: number, D: number, theta: number): void {
  const half = D / 2;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < heads; h++) {
    const base = ((b * T + t) * heads + h) * D;
    for (let i = 0; i < half; i++) {
      const a = t * Math.pow(theta, (-2 * i) / D);
      const c = Math.cos(a), s = Math.sin(a);
      const x1 = x[base + i], x2 = x[base + i + half];
      x[base + i] = x1 * c - x2 * s;
      x[base + i + half] = x2 * c + x1 * s;
    }
  }
}

/**
 * Logits [B·P, V] for the first P positions of each row (P ≤ T), row-major by (b, t).
 * `ids` holds B rows of T tokens.
 */
export function referenceLogits(spec: ModelSpec, w: HostWeights, ids: Int32Array, B: number, T: number, P = T): Float64Array {
  const { hidden: C, intermediate: I, heads: H, kvHeads: KV, headDim: D, vocabSize: V, rmsEps: eps } = spec;
  const N = B * P;
  const emb = get(w, 'model.embed_tokens.weight'); // [V, C]
  let x: Float64Array = new Float64Array(N * C);
  for (let b = 0; b < B; b++) for (let t = 0; t < P; t++) {
    const id = ids[b * T + t];
    for (let c = 0; c < C; c++) x[(b * P + t) * C + c] = emb[id * C + c];
  }
  const rep = H / KV;
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const h = rmsnorm(x, N, C, get(w, `${p}.input_layernorm.weight`), eps);
    const q = linear(h, N, C, get(w, `${p}.self_attn.q_proj.weight`), H * D, w.get(`${p}.self_attn.q_proj.bias`)); // [N, H, D]
    const k = linear(h, N, C, get(w, `${p}.self_attn.k_proj.weight`), KV * D, w.get(`${p}.self_attn.k_proj.bias`)); // [N, KV, D]
    const v = linear(h, N, C, get(w, `${p}.self_attn.v_proj.weight`), KV * D, w.get(`${p}.self_attn.v_proj.bias`));
    rope(q, B, P, H, D, spec.ropeTheta);
    rope(k, B, P, KV, D, spec.ropeTheta);
    const a = new Float64Array(N * H * D); // [N, H, D]
    const scores = new Float64Array(P);
    for (let b = 0; b < B; b++) for (let hh = 0; hh < H; hh++) {
      const g = Math.floor(hh / rep);
      for (let t = 0; t < P; t++) {
        let max = -Infinity;
        for (let u = 0; u <= t; u++) {
          let s = 0;
          for (let d = 0; d < D; d++) s += q[((b * P + t) * H + hh) * D + d] * k[((b * P + u) * KV + g) * D + d];
          scores[u] = s / Math.sqrt(D);
          max = Math.max(max, scores[u]);
        }
        let sum = 0;
        for (let u = 0; u <= t; u++) sum += (scores[u] = Math.exp(scores[u] - max));
        for (let u = 0; u <= t; u++) {
          const pr = scores[u] / sum;
          for (let d = 0; d < D; d++) a[((b * P + t) * H + hh) * D + d] += pr * v[((b * P + u) * KV + g) * D + d];
        }
      }
    }
    const o = linear(a, N, H * D, get(w, `${p}.self_attn.o_proj.weight`), C);
    for (let i = 0; i < x.length; i++) x[i] += o[i];
    const h2 = rmsnorm(x, N, C, get(w, `${p}.post_attention_layernorm.weight`), eps);
    const gate = linear(h2, N, C, get(w, `${p}.mlp.gate_proj.weight`), I);
    const up = linear(h2, N, C, get(w, `${p}.mlp.up_proj.weight`), I);
    for (let i = 0; i < gate.length; i++) gate[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
    const d = linear(gate, N, I, get(w, `${p}.mlp.down_proj.weight`), C);
    for (let i = 0; i < x.length; i++) x[i] += d[i];
  }
  x = rmsnorm(x, N, C, get(w, 'model.norm.weight'), eps);
  return linear(x, N, C, emb, V);
}

function logSoftmax(z: Float64Array, off: number, V: number, scale: number): Float64Array {
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, z[off + j] * scale);
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(z[off + j] * scale - max);
  const lse = max + Math.log(sum);
  return Float64Array.from({ length: V }, (_, j) => z[off + j] * scale - lse);
}

/** α·T²·Σ KL(p_t^T ‖ p_s^T) + (1 − α)·Σ CE(y, p_s), over labelled tokens, divided by their count. */
export function referenceDistillLoss(student: Float64Array, teacher: Float64Array, labels: Int32Array, V: number, alpha: number, T: number): number {
  let total = 0, count = 0;
  for (let n = 0; n < labels.length; n++) {
    if (labels[n] < 0) continue;
    count++;
    const lsT = logSoftmax(student, n * V, V, 1 / T);
    const ltT = logSoftmax(teacher, n * V, V, 1 / T);
    let kl = 0;
    for (let j = 0; j < V; j++) kl += Math.exp(ltT[j]) * (ltT[j] - lsT[j]);
    const ce = -logSoftmax(student, n * V, V, 1)[labels[n]];
    total += alpha * T * T * kl + (1 - alpha) * ce;
  }
  return total / count;
}

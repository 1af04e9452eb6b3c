/**
 * A Qwen2 / Qwen3 / Llama decoder as an ONNX graph with the KV-cache interface transformers.js drives
 * for decoder-only models (optimum's layout):
 *   inputs   input_ids [batch_size, sequence_length] int64, attention_mask [batch_size,
 *            total_sequence_length] int64, position_ids [batch_size, sequence_length] int64,
 *            past_key_values.N.key / .value [batch_size, kv_heads, past_sequence_length, head_dim]
 *   outputs  logits [batch_size, sequence_length, vocab], present.N.key / .value [batch_size,
 *            kv_heads, total_sequence_length, head_dim]
 * transformers.js starts generation with zero-length past tensors. Standard ops (opset 17) plus
 * com.microsoft MatMulNBits for quantized projections. HF semantics throughout: RMSNorm in float,
 * rotate_half RoPE on cos/sin of fround(position · inv_freq), GQA (kv head j serves q heads
 * j·rep … j·rep+rep−1, done by folding q to [B, KV, rep, T, D] rather than copying k and v), a causal
 * and padding mask, SwiGLU, optional tied LM head (Gemm with transB, so the embedding is stored once).
 */
import type { ModelSpec } from '../core/model-spec.ts';
import { f32ToF16 } from '../core/safetensors.ts';
import { ropeAttentionFactor, ropeInvFreq } from '../engine/kernels/rope.ts';
import type { AttrValue, GraphSpec, Initializer, NodeSpec, ValueInfo } from './proto.ts';
import type { QatConfig } from '../core/schema/adapters.ts';
import { quantizeLinear } from './quantize.ts';

export type WeightFormat = { kind: 'fp32' } | { kind: 'fp16' } | { kind: 'nbits'; grid: QatConfig };

/** HF name → row-major float32 values (Linear weights [out, in]). */
export type HostWeights = ReadonlyMap<string, Float32Array>;

class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly inits: Initializer[] = [];
  private n = 0;

  op(op: string, inputs: readonly string[], attrs?: Record<string, AttrValue>, out?: string, domain?: string): string {
    const y = out ?? `/${op.toLowerCase()}_${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [y], attrs, domain });
    return y;
  }

  init(t: Initializer): string {
    this.inits.push(t);
    return t.name;
  }

  float(name: string, data: Float32Array, dims: readonly number[]): string {
    return this.init({ name, type: 'float', dims, data });
  }

  ints(name: string, values: readonly number[], scalar = false): string {
    return this.init({ name, type: 'int64', dims: scalar ? [] : [values.length], data: BigInt64Array.from(values.map(BigInt)) });
  }
}

function weight(w: HostWeights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`onnx export: weight ${name} is missing`);
  return t;
}

/** W [out, in] → [in, out], the layout MatMul(x, W) needs. */
function transposed(w: Float32Array, out: number, inF: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) t[i * out + o] = w[o * inF + i];
  return t;
}

/** The largest value a float32 holds: the mask's "never attend" (finite, so a fully masked row stays a uniform softmax, not NaN). */
const F32_LOWEST = -3.4028234663852886e38;

export function decoderGraph(spec: ModelSpec, w: HostWeights, format: WeightFormat): GraphSpec {
  const { hidden: C, intermediate: I, heads: H, kvHeads: KV, headDim: D, vocabSize: V } = spec;
  const rep = H / KV;
  const g = new GraphBuilder();

  /** A float matrix stored as the format says and read as float32 (fp16 is Cast once, and ORT folds the Cast at load). */
  const floatMatrix = (name: string, data: Float32Array, dims: readonly number[]) => {
    if (format.kind !== 'fp16') return g.float(name, data, dims);
    return g.op('Cast', [g.init({ name: `${name}_fp16`, type: 'float16', dims, data: f32ToF16(data) })], { to: 1 }, name);
  };

  g.float('/const/two', Float32Array.of(2), []);
  g.float('/const/eps', Float32Array.of(spec.rmsEps), []);
  g.float('/const/attn_scale', Float32Array.of(1 / Math.sqrt(D)), []);
  g.float('/const/zero_f', Float32Array.of(0), []);
  g.float('/const/lowest_f', Float32Array.of(F32_LOWEST), []);
  g.ints('/const/zero_i', [0], true);
  g.ints('/const/one_i', [1], true);
  g.ints('/const/axis0', [0]);
  g.ints('/const/axis1', [1]);
  g.ints('/const/axis2', [2]);
  g.ints('/const/axes123', [1, 2, 3]);
  g.ints('/const/axis_last', [-1]);
  g.ints('/const/half_start', [0]);
  g.ints('/const/half_mid', [D / 2]);
  g.ints('/const/half_end', [D]);
  g.ints('/const/shape_q', [0, 0, H, D]);
  g.ints('/const/shape_kv', [0, 0, KV, D]);
  g.ints('/const/shape_q5', [0, KV, rep, -1, D]);
  g.ints('/const/shape_heads', [0, H, -1, D]);
  g.ints('/const/shape_merge', [0, 0, H * D]);
  g.ints('/const/shape_rows', [-1, C]);
  g.ints('/const/vocab', [V]);

  const rmsnorm = (x: string, weightName: string, dim: number) => {
    const wn = g.float(weightName, weight(w, weightName), [dim]);
    const ms = g.op('ReduceMean', [g.op('Pow', [x, '/const/two'])], { axes: [-1], keepdims: 1 });
    return g.op('Mul', [g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, '/const/eps'])])]), wn]);
  };
  const linear = (x: string, name: string, out: number, inF: number) => {
    const wt = weight(w, `${name}.weight`);
    let y: string;
    if (format.kind === 'nbits') {
      const q = quantizeLinear(wt, out, inF, format.grid, `${name}.weight`);
      const inputs = [
        x,
        g.init({ name: `${name}.weight_Q${q.bits}`, type: 'uint8', dims: [q.N, q.blocks, (q.blockSize * q.bits) / 8], data: q.packed }),
        g.float(`${name}.weight_scales`, q.scales, [q.scales.length]),
        ...(q.zeroPoints ? [g.init({ name: `${name}.weight_zp`, type: 'uint8', dims: [q.zeroPoints.length], data: q.zeroPoints })] : []),
      ];
      y = g.op('MatMulNBits', inputs, { K: q.K, N: q.N, bits: q.bits, block_size: q.blockSize }, undefined, 'com.microsoft');
    } else {
      y = g.op('MatMul', [x, floatMatrix(`${name}.weight_t`, transposed(wt, out, inF), [inF, out])]);
    }
    const b = w.get(`${name}.bias`);
    return b ? g.op('Add', [y, g.float(`${name}.bias`, b, [out])]) : y;
  };

  // Sizes: T new tokens, S = past + T attended positions, P = S − T past ones.
  const T = g.op('Gather', [g.op('Shape', ['input_ids']), '/const/one_i'], { axis: 0 });
  const S = g.op('Gather', [g.op('Shape', ['attention_mask']), '/const/one_i'], { axis: 0 });
  const P = g.op('Sub', [S, T]);

  // Mask bias [B, 1, 1, T, S]: 0 where query P+t may see key s (s ≤ P+t and the key is not padding), lowest float elsewhere.
  const keyPos = g.op('Unsqueeze', [g.op('Range', ['/const/zero_i', S, '/const/one_i']), '/const/axis0']); // [1, S]
  const queryPos = g.op('Unsqueeze', [g.op('Range', [P, S, '/const/one_i']), '/const/axis1']); // [T, 1]
  const causal = g.op('Not', [g.op('Greater', [keyPos, queryPos])]); // [T, S]
  const notPad = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: 9 }), '/const/axes123']); // [B, 1, 1, 1, S]
  const maskBias = g.op('Where', [g.op('And', [causal, notPad]), '/const/zero_f', '/const/lowest_f']);

  // RoPE: cos/sin [B, 1, T, D] of emb = cat(freqs, freqs), freqs = fround(position · inv_freq)
  const invFreq = g.float('/rope/inv_freq', ropeInvFreq(spec), [D / 2]);
  const pos = g.op('Unsqueeze', [g.op('Cast', ['position_ids'], { to: 1 }), '/const/axis_last']); // [B, T, 1]
  const freqs = g.op('Mul', [pos, invFreq]);
  const emb = g.op('Unsqueeze', [g.op('Concat', [freqs, freqs], { axis: -1 }), '/const/axis1']);
  const factor = ropeAttentionFactor(spec);
  const scaled = (y: string) => (factor === 1 ? y : g.op('Mul', [y, g.float(`/rope/factor_${y}`, Float32Array.of(factor), [])]));
  const cos = scaled(g.op('Cos', [emb]));
  const sin = scaled(g.op('Sin', [emb]));
  const rope = (x: string) => { // [B, heads, T, D]
    const x1 = g.op('Slice', [x, '/const/half_start', '/const/half_mid', '/const/axis_last']);
    const x2 = g.op('Slice', [x, '/const/half_mid', '/const/half_end', '/const/axis_last']);
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, cos]), g.op('Mul', [rotated, sin])]);
  };
  /** [B, T, heads·D] → [B, heads, T, D], with Qwen3's per-head RMSNorm before RoPE. */
  const heads = (y: string, shape: string, norm?: string) => {
    const split = g.op('Reshape', [y, shape]);
    return g.op('Transpose', [norm ? rmsnorm(split, norm, D) : split], { perm: [0, 2, 1, 3] });
  };

  const embedName = 'model.embed_tokens.weight';
  const embed = floatMatrix(embedName, weight(w, embedName), [V, C]);
  let x = g.op('Gather', [embed, 'input_ids'], { axis: 0 }); // [B, T, C]
  const presents: ValueInfo[] = [];
  const pasts: ValueInfo[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const h = rmsnorm(x, `${p}.input_layernorm.weight`, C);
    const q = rope(heads(linear(h, `${p}.self_attn.q_proj`, H * D, C), '/const/shape_q', spec.qkNorm ? `${p}.self_attn.q_norm.weight` : undefined));
    const k = rope(heads(linear(h, `${p}.self_attn.k_proj`, KV * D, C), '/const/shape_kv', spec.qkNorm ? `${p}.self_attn.k_norm.weight` : undefined));
    const v = heads(linear(h, `${p}.self_attn.v_proj`, KV * D, C), '/const/shape_kv');
    const cacheShape = (len: string) => ['batch_size', KV, len, D];
    for (const kind of ['key', 'value'] as const) {
      pasts.push({ name: `past_key_values.${l}.${kind}`, type: 'float', shape: cacheShape('past_sequence_length') });
      presents.push({ name: `present.${l}.${kind}`, type: 'float', shape: cacheShape('total_sequence_length') });
    }
    const kAll = g.op('Concat', [`past_key_values.${l}.key`, k], { axis: 2 }, `present.${l}.key`); // [B, KV, S, D]
    const vAll = g.op('Concat', [`past_key_values.${l}.value`, v], { axis: 2 }, `present.${l}.value`);
    const q5 = g.op('Reshape', [q, '/const/shape_q5']); // [B, KV, rep, T, D]
    const kT = g.op('Transpose', [g.op('Unsqueeze', [kAll, '/const/axis2'])], { perm: [0, 1, 2, 4, 3] }); // [B, KV, 1, D, S]
    const scores = g.op('Add', [g.op('Mul', [g.op('MatMul', [q5, kT]), '/const/attn_scale']), maskBias]); // [B, KV, rep, T, S]
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const a = g.op('MatMul', [probs, g.op('Unsqueeze', [vAll, '/const/axis2'])]); // [B, KV, rep, T, D]
    const merged = g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [a, '/const/shape_heads'])], { perm: [0, 2, 1, 3] }), '/const/shape_merge']); // [B, T, H·D]
    x = g.op('Add', [x, linear(merged, `${p}.self_attn.o_proj`, C, H * D)]);

    const h2 = rmsnorm(x, `${p}.post_attention_layernorm.weight`, C);
    const gate = linear(h2, `${p}.mlp.gate_proj`, I, C);
    const up = linear(h2, `${p}.mlp.up_proj`, I, C);
    const m = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]); // SwiGLU
    x = g.op('Add', [x, linear(m, `${p}.mlp.down_proj`, C, I)]);
  }
  const hn = rmsnorm(x, 'model.norm.weight', C);
  const head = spec.tieEmbeddings ? embed : floatMatrix('lm_head.weight', weight(w, 'lm_head.weight'), [V, C]);
  const rows = g.op('Gemm', [g.op('Reshape', [hn, '/const/shape_rows']), head], { transB: 1 }); // [B·T, V]
  const logitsShape = g.op('Concat', [g.op('Shape', ['input_ids']), '/const/vocab'], { axis: 0 });
  g.op('Reshape', [rows, logitsShape], undefined, 'logits');

  return {
    name: `${spec.arch}_decoder`,
    nodes: g.nodes,
    inputs: [
      { name: 'input_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] },
      { name: 'attention_mask', type: 'int64', shape: ['batch_size', 'total_sequence_length'] },
      { name: 'position_ids', type: 'int64', shape: ['batch_size', 'sequence_length'] },
      ...pasts,
    ],
    outputs: [{ name: 'logits', type: 'float', shape: ['batch_size', 'sequence_length', V] }, ...presents],
    initializers: g.inits,
  };
}

/**
 * The student as a standard-op ONNX graph (opset 17) for ORT's forward: what `torch.onnx.export` of a
 * Qwen2 decoder without a KV cache produces, op for op — Gather, RMSNorm as Pow/ReduceMean/Add/Sqrt/
 * Div/Mul (ORT fuses this pattern into SimplifiedLayerNormalization), MatMul against [in, out]
 * initializers, rotate_half RoPE with Slice/Neg/Concat, GQA by Expand, a causal mask added before
 * Softmax, SwiGLU, tied LM head. Static shapes: the batch is [B, T].
 * Not used: ORT's contrib ops (GroupQueryAttention, SkipSimplifiedLayerNormalization) that an
 * optimum/transformers.js export would carry; the README says so next to the numbers.
 */
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { encodeModel, type AttrValue, type Initializer, type NodeSpec } from '../onnx-graph.ts';
import type { HostWeights } from './student.ts';

class Graph {
  readonly nodes: NodeSpec[] = [];
  readonly inits: Initializer[] = [];
  private n = 0;

  op(op: string, inputs: readonly string[], attrs?: Record<string, AttrValue>, out?: string): string {
    const y = out ?? `${op.toLowerCase()}_${this.n++}`;
    this.nodes.push({ op, inputs, outputs: [y], attrs });
    return y;
  }

  float(name: string, data: Float32Array, dims: readonly number[]): string {
    this.inits.push({ name, type: 'float', dims, data });
    return name;
  }

  ints(name: string, values: readonly number[]): string {
    this.inits.push({ name, type: 'int64', dims: [values.length], data: BigInt64Array.from(values.map(BigInt)) });
    return name;
  }
}

function get(w: HostWeights, name: string): Float32Array {
  const t = w.get(name);
  if (!t) throw new Error(`onnx-decoder: weight ${name} is missing`);
  return t;
}

/** W [out, in] → [in, out], the layout MatMul(x, W) needs. */
function transposed(w: Float32Array, out: number, inF: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) t[i * out + o] = w[o * inF + i];
  return t;
}

/** Inputs `input_ids` int64 [B, T]; output `logits` float [B·T, V]. */
export function decoderModel(spec: ModelSpec, w: HostWeights, B: number, T: number): Uint8Array {
  const { hidden: C, intermediate: I, heads: H, kvHeads: KV, headDim: D, vocabSize: V } = spec;
  const N = B * T;
  const rep = H / KV;
  const g = new Graph();

  g.float('two', Float32Array.of(2), []);
  g.float('eps', Float32Array.of(spec.rmsEps), []);
  g.float('attn_scale', Float32Array.of(1 / Math.sqrt(D)), []);
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
  g.float('causal_mask', mask, [T, T]);
  // cos/sin [T, D] of HF's emb = cat(freqs, freqs), freqs = t · θ^(−2i/D)
  const cos = new Float32Array(T * D), sin = new Float32Array(T * D);
  for (let t = 0; t < T; t++) for (let i = 0; i < D / 2; i++) {
    const a = t * Math.pow(spec.ropeTheta, (-2 * i) / D);
    cos[t * D + i] = cos[t * D + i + D / 2] = Math.cos(a);
    sin[t * D + i] = sin[t * D + i + D / 2] = Math.sin(a);
  }
  g.float('rope_cos', cos, [T, D]);
  g.float('rope_sin', sin, [T, D]);
  g.ints('shape_NC', [N, C]);
  g.ints('shape_BTHD', [B, T, H, D]);
  g.ints('shape_BTKD', [B, T, KV, D]);
  g.ints('shape_N_HD', [N, H * D]);
  g.ints('half_start', [0]);
  g.ints('half_mid', [D / 2]);
  g.ints('half_end', [D]);
  g.ints('axis3', [3]);
  if (rep > 1) {
    g.ints('shape_expand', [B, KV, rep, T, D]);
    g.ints('shape_BHTD', [B, H, T, D]);
    g.ints('axis2', [2]);
  }

  const rmsnorm = (x: string, weight: string) => {
    const ms = g.op('ReduceMean', [g.op('Pow', [x, 'two'])], { axes: [-1], keepdims: 1 });
    return g.op('Mul', [g.op('Div', [x, g.op('Sqrt', [g.op('Add', [ms, 'eps'])])]), weight]);
  };
  const linear = (x: string, name: string, out: number, inF: number) => {
    const y = g.op('MatMul', [x, g.float(`${name}.weight_t`, transposed(get(w, `${name}.weight`), out, inF), [inF, out])]);
    const b = w.get(`${name}.bias`);
    return b ? g.op('Add', [y, g.float(`${name}.bias`, b, [out])]) : y;
  };
  const rope = (x: string) => { // [B, heads, T, D]
    const x1 = g.op('Slice', [x, 'half_start', 'half_mid', 'axis3']);
    const x2 = g.op('Slice', [x, 'half_mid', 'half_end', 'axis3']);
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: -1 });
    return g.op('Add', [g.op('Mul', [x, 'rope_cos']), g.op('Mul', [rotated, 'rope_sin'])]);
  };
  const repeatKv = (x: string) => { // [B, KV, T, D] → [B, H, T, D], kv head j serving q heads j·rep … j·rep+rep−1
    if (rep === 1) return x;
    return g.op('Reshape', [g.op('Expand', [g.op('Unsqueeze', [x, 'axis2']), 'shape_expand']), 'shape_BHTD']);
  };

  const embed = get(w, 'model.embed_tokens.weight');
  g.float('model.embed_tokens.weight', embed, [V, C]);
  let x = g.op('Reshape', [g.op('Gather', ['model.embed_tokens.weight', 'input_ids'], { axis: 0 }), 'shape_NC']); // [N, C]
  for (let l = 0; l < spec.layers; l++) {
    const p = `model.layers.${l}`;
    const h = rmsnorm(x, g.float(`${p}.input_layernorm.weight`, get(w, `${p}.input_layernorm.weight`), [C]));
    const q = g.op('Transpose', [g.op('Reshape', [linear(h, `${p}.self_attn.q_proj`, H * D, C), 'shape_BTHD'])], { perm: [0, 2, 1, 3] }); // [B, H, T, D]
    const k = g.op('Transpose', [g.op('Reshape', [linear(h, `${p}.self_attn.k_proj`, KV * D, C), 'shape_BTKD'])], { perm: [0, 2, 1, 3] }); // [B, KV, T, D]
    const v = g.op('Transpose', [g.op('Reshape', [linear(h, `${p}.self_attn.v_proj`, KV * D, C), 'shape_BTKD'])], { perm: [0, 2, 1, 3] });
    const kr = repeatKv(rope(k));
    const scores = g.op('MatMul', [rope(q), g.op('Transpose', [kr], { perm: [0, 1, 3, 2] })]); // [B, H, T, T]
    const probs = g.op('Softmax', [g.op('Add', [g.op('Mul', [scores, 'attn_scale']), 'causal_mask'])], { axis: -1 });
    const a = g.op('MatMul', [probs, repeatKv(v)]); // [B, H, T, D]
    const a2 = g.op('Reshape', [g.op('Transpose', [a], { perm: [0, 2, 1, 3] }), 'shape_N_HD']); // [N, H·D]
    x = g.op('Add', [x, linear(a2, `${p}.self_attn.o_proj`, C, H * D)]);

    const h2 = rmsnorm(x, g.float(`${p}.post_attention_layernorm.weight`, get(w, `${p}.post_attention_layernorm.weight`), [C]));
    const gate = linear(h2, `${p}.mlp.gate_proj`, I, C);
    const up = linear(h2, `${p}.mlp.up_proj`, I, C);
    const m = g.op('Mul', [g.op('Mul', [gate, g.op('Sigmoid', [gate])]), up]); // SwiGLU [N, I]
    x = g.op('Add', [x, linear(m, `${p}.mlp.down_proj`, C, I)]);
  }
  const hn = rmsnorm(x, g.float('model.norm.weight', get(w, 'model.norm.weight'), [C]));
  g.op('MatMul', [hn, g.float('lm_head.weight_t', transposed(embed, V, C), [C, V])], undefined, 'logits'); // tied head

  return encodeModel({
    name: 'qwen2_student',
    nodes: g.nodes,
    inputs: [{ name: 'input_ids', type: 'int64', shape: [B, T] }],
    outputs: [{ name: 'logits', type: 'float', shape: [N, V] }],
    initializers: g.inits,
  });
}

/**
 * The student written by hand in TensorFlow.js, as a tfjs user would: the same Qwen2 decoder as the
 * engine's (rotate_half RoPE, GQA by tiling kv heads, causal softmax, SwiGLU, tied head), with Linear
 * weights kept [out, in] and multiplied with `transposeB` so tfjs sees HF's layout directly.
 */
import { tensorNamesFor, type ModelSpec } from '../../src/core/model-spec.ts';
import { tf } from '../peers/tfjs.ts';
import type { HostWeights } from './student.ts';

export class TfjsDecoder {
  readonly params = new Map<string, tf.Tensor>();
  private readonly cos: tf.Tensor2D; // [T, D]
  private readonly sin: tf.Tensor2D;
  private readonly mask: tf.Tensor2D; // [T, T], −1e9 above the diagonal

  /** `trainable`: weights become tf.Variables (the student); otherwise constants (the teacher). */
  constructor(readonly spec: ModelSpec, w: HostWeights, readonly T: number, trainable: boolean) {
    for (const info of tensorNamesFor(spec)) {
      const data = w.get(info.name);
      if (!data) throw new Error(`tfjs decoder: weight ${info.name} is missing`);
      const t = tf.tensor(data, info.shape, 'float32');
      this.params.set(info.name, trainable ? tf.variable(t, true, info.name) : t);
      if (trainable) t.dispose();
    }
    const D = spec.headDim;
    const cos = new Float32Array(T * D), sin = new Float32Array(T * D);
    for (let t = 0; t < T; t++) for (let i = 0; i < D / 2; i++) {
      const a = t * Math.pow(spec.ropeTheta, (-2 * i) / D);
      cos[t * D + i] = cos[t * D + i + D / 2] = Math.cos(a);
      sin[t * D + i] = sin[t * D + i + D / 2] = Math.sin(a);
    }
    this.cos = tf.tensor2d(cos, [T, D]);
    this.sin = tf.tensor2d(sin, [T, D]);
    const mask = new Float32Array(T * T);
    for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) mask[i * T + j] = -1e9;
    this.mask = tf.tensor2d(mask, [T, T]);
  }

  get variables(): tf.Variable[] {
    return [...this.params.values()].filter((t): t is tf.Variable => t instanceof tf.Variable);
  }

  private p(name: string): tf.Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`tfjs decoder: weight ${name} is missing`);
    return t;
  }

  private rmsnorm(x: tf.Tensor2D, weight: string): tf.Tensor2D {
    return x.mul(tf.rsqrt(x.square().mean(-1, true).add(this.spec.rmsEps))).mul(this.p(weight));
  }

  private linear(x: tf.Tensor2D, name: string): tf.Tensor2D {
    const y = tf.matMul(x, this.p(`${name}.weight`) as tf.Tensor2D, false, true);
    const b = this.params.get(`${name}.bias`);
    return (b ? y.add(b) : y) as tf.Tensor2D;
  }

  private rope(x: tf.Tensor4D): tf.Tensor4D { // [B, heads, T, D]
    const [B, Hh, T, D] = x.shape;
    const x1 = x.slice([0, 0, 0, 0], [B, Hh, T, D / 2]);
    const x2 = x.slice([0, 0, 0, D / 2], [B, Hh, T, D / 2]);
    return x.mul(this.cos).add(tf.concat([x2.neg(), x1], -1).mul(this.sin));
  }

  /** Logits [B·T, V] for ids [B·T] (int32). */
  forward(ids: tf.Tensor1D, B: number): tf.Tensor2D {
    const { hidden: C, heads: H, kvHeads: KV, headDim: D } = this.spec;
    const T = this.T, N = B * T, rep = H / KV;
    const embed = this.p('model.embed_tokens.weight') as tf.Tensor2D;
    let x = tf.gather(embed, ids) as tf.Tensor2D; // [N, C]
    const heads = (t: tf.Tensor2D, n: number) => t.reshape([B, T, n, D]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
    // kv head j serves q heads j·rep … j·rep+rep−1; a rank-3 tile (tfjs runs rank ≥ 5 tiles on the CPU, reading back synchronously)
    const repeatKv = (t: tf.Tensor4D) => (rep === 1 ? t : (t.reshape([B * KV, 1, T * D]).tile([1, rep, 1]).reshape([B, H, T, D]) as tf.Tensor4D));
    for (let l = 0; l < this.spec.layers; l++) {
      const p = `model.layers.${l}`;
      const h = this.rmsnorm(x, `${p}.input_layernorm.weight`);
      const q = this.rope(heads(this.linear(h, `${p}.self_attn.q_proj`), H)); // [B, H, T, D]
      const k = repeatKv(this.rope(heads(this.linear(h, `${p}.self_attn.k_proj`), KV)));
      const v = repeatKv(heads(this.linear(h, `${p}.self_attn.v_proj`), KV));
      const probs = tf.softmax(tf.matMul(q, k, false, true).mul(1 / Math.sqrt(D)).add(this.mask)); // [B, H, T, T]
      const a = tf.matMul(probs, v).transpose([0, 2, 1, 3]).reshape([N, H * D]) as tf.Tensor2D;
      x = x.add(this.linear(a, `${p}.self_attn.o_proj`));
      const h2 = this.rmsnorm(x, `${p}.post_attention_layernorm.weight`);
      const gate = this.linear(h2, `${p}.mlp.gate_proj`);
      const m = gate.mul(tf.sigmoid(gate)).mul(this.linear(h2, `${p}.mlp.up_proj`)) as tf.Tensor2D; // SwiGLU [N, I]
      x = x.add(this.linear(m, `${p}.mlp.down_proj`));
    }
    if (x.shape[1] !== C) throw new Error('tfjs decoder: hidden size');
    return tf.matMul(this.rmsnorm(x, 'model.norm.weight'), embed, false, true); // tied head
  }

  dispose(): void {
    for (const t of this.params.values()) t.dispose();
    this.params.clear();
    for (const t of [this.cos, this.sin, this.mask]) t.dispose();
  }
}

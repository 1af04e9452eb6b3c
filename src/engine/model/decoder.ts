import type { ModelSpec } from '../../core/model-spec.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import type { Tape } from '../tape.ts';
import * as ops from '../ops.ts';
import { ropeInvFreq, ropeAttentionFactor } from '../kernels/rope.ts';
import type { LoadedWeights } from './weights.ts';
import type { KvCache } from './kv-cache.ts';
import type { LoraAdapters } from './lora.ts';
import { gridFor, isQuantizedWeight } from '../../core/quant.ts';
import type { QatConfig } from '../../core/schema/adapters.ts';

export interface ForwardOptions {
  /** Record on this tape (training); without one nothing is kept for backward. */
  tape?: Tape;
  /** Attend to and extend this cache (generation). Positions continue from its length. */
  cache?: KvCache;
  /** Keep each layer's output hidden state (feature distillation); the caller disposes them. */
  collectHidden?: boolean;
}

export interface ForwardResult {
  /** Final hidden states after the last norm: [B·T, C]. The LM head is applied by the loss or `logits()`. */
  hidden: Tensor;
  layerHidden: Tensor[];
}

/**
 * A decoder-only transformer — Qwen2, Qwen3 and Llama differ only in flags of the spec (q/k/v bias,
 * q/k norm, tied embeddings, RoPE scaling), so one forward serves all three.
 */
export class Decoder {
  readonly spec: ModelSpec;
  readonly weights: Map<string, Tensor>;
  private readonly invFreq: Tensor;
  /** YaRN scales q and k (so attention logits by its square); 1 otherwise. */
  private readonly ropeScale: number;
  lora: LoraAdapters | null = null;
  /** Quantization-aware training: the decoder projections run on their grid (src/core/quant.ts). */
  private qatConfig: QatConfig | null = null;

  constructor(readonly rt: Runtime, loaded: LoadedWeights) {
    this.spec = loaded.spec;
    this.weights = loaded.tensors;
    this.invFreq = rt.upload(ropeInvFreq(this.spec), [this.spec.headDim / 2], 'f32', 'rope.inv_freq');
    this.ropeScale = ropeAttentionFactor(this.spec);
  }

  w(name: string): Tensor {
    const t = this.weights.get(name);
    if (!t) throw new Error(`weight ${name} is not loaded`);
    return t;
  }

  private opt(name: string): Tensor | undefined {
    return this.weights.get(name);
  }

  /** The LM head: `lm_head.weight`, or the embedding when tied. [V, C] */
  get head(): Tensor {
    return this.spec.tieEmbeddings ? this.w('model.embed_tokens.weight') : this.w('lm_head.weight');
  }

  get qat(): QatConfig | null {
    return this.qatConfig;
  }

  /** Turns fake quantization on (or off with null); every projection's grid is checked first. */
  set qat(cfg: QatConfig | null) {
    // LoRA keeps its own path in the torch worker (its base is not swapped for a fake-quant linear),
    // so QAT over LoRA would train a different model in each runtime: refused in both.
    if (cfg && this.lora) throw new Error('qat: not supported together with lora (merge the adapter first, then train with qat)');
    if (cfg) for (const [name, t] of this.weights) if (isQuantizedWeight(name)) gridFor(cfg, t.shape, name);
    this.qatConfig = cfg;
  }

  /** A projection's weight as the forward uses it: on its grid under QAT (STE backward), else itself. */
  private projection(ctx: ops.OpContext, name: string): Tensor {
    const w = this.w(name);
    return this.qatConfig ? ops.fakeQuant(ctx, w, gridFor(this.qatConfig, w.shape, name)) : w;
  }

  /** ids: B sequences of T tokens, row-major. */
  forward(ids: Int32Array, B: number, T: number, opts: ForwardOptions = {}): ForwardResult {
    const { spec, rt } = this;
    const ctx: ops.OpContext = { rt, tape: opts.tape };
    const N = B * T;
    if (ids.length !== N) throw new Error(`forward: ${ids.length} ids for B=${B}, T=${T}`);
    const { heads: H, kvHeads: KV, headDim: D, hidden: C } = spec;
    const start = opts.cache?.length ?? 0;
    const positions = new Int32Array(N);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) positions[b * T + t] = start + t;
    const posT = ops.keep(ctx, rt.upload(positions, [N], 'i32', 'positions'));
    const idsT = ops.keep(ctx, rt.upload(ids, [N], 'i32', 'ids'));

    let x = ops.embedding(ctx, idsT, ids, this.w('model.embed_tokens.weight')); // [N, C]
    const layerHidden: Tensor[] = [];
    for (let l = 0; l < spec.layers; l++) {
      const p = `model.layers.${l}`;
      const lin = (name: string, inp: Tensor) => {
        const w = this.projection(ctx, `${p}.${name}.weight`);
        const y = ops.linear(ctx, inp, w, this.opt(`${p}.${name}.bias`), this.lora?.get(`${p}.${name}`));
        if (this.qatConfig) ops.release(ctx, w);
        return y;
      };

      // attention block
      const h = ops.rmsnorm(ctx, x, this.w(`${p}.input_layernorm.weight`), spec.rmsEps); // [N, C]
      let q = lin('self_attn.q_proj', h); // [N, H·D]
      let k = lin('self_attn.k_proj', h); // [N, KV·D]
      const v = lin('self_attn.v_proj', h); // [N, KV·D]
      if (spec.qkNorm) {
        const [q0, k0] = [q, k];
        q = ops.rmsnorm(ctx, q0.reshape([N * H, D]), this.w(`${p}.self_attn.q_norm.weight`), spec.rmsEps);
        k = ops.rmsnorm(ctx, k0.reshape([N * KV, D]), this.w(`${p}.self_attn.k_norm.weight`), spec.rmsEps);
        ops.release(ctx, q0, k0);
      }
      const qr = ops.rope(ctx, q.reshape([N, H, D]), posT, this.invFreq, this.ropeScale);
      const kr = ops.rope(ctx, k.reshape([N, KV, D]), posT, this.invFreq, this.ropeScale);
      const a = opts.cache
        ? ops.attentionCached(ctx, qr.reshape([B, T, H, D]), kr.reshape([B, T, KV, D]), v.reshape([B, T, KV, D]), opts.cache, l)
        : ops.attention(ctx, qr.reshape([B, T, H, D]), kr.reshape([B, T, KV, D]), v.reshape([B, T, KV, D])); // [B, T, H, D]
      ops.release(ctx, h, q, k, v, qr, kr);
      const o = lin('self_attn.o_proj', a.reshape([N, H * D])); // [N, C]
      ops.release(ctx, a);
      const x1 = ops.add(ctx, x, o);
      ops.release(ctx, o);
      if (!opts.collectHidden || l === 0) ops.release(ctx, x);
      x = x1;

      // MLP block
      const h2 = ops.rmsnorm(ctx, x, this.w(`${p}.post_attention_layernorm.weight`), spec.rmsEps);
      const g = lin('mlp.gate_proj', h2); // [N, I]
      const u = lin('mlp.up_proj', h2); // [N, I]
      const m = ops.swiglu(ctx, g, u); // [N, I]
      const d = lin('mlp.down_proj', m); // [N, C]
      ops.release(ctx, h2, g, u, m);
      const x2 = ops.add(ctx, x, d);
      ops.release(ctx, x, d);
      x = x2;
      if (opts.collectHidden) layerHidden.push(x);
    }
    if (opts.cache) opts.cache.advance(T);
    const hidden = ops.rmsnorm(ctx, x, this.w('model.norm.weight'), spec.rmsEps);
    if (!opts.collectHidden) ops.release(ctx, x);
    ops.release(ctx, posT, idsT);
    if (hidden.shape[1] !== C) throw new Error('internal: hidden size');
    return { hidden, layerHidden };
  }

  /** Logits for some rows of the final hidden states: [rows, V]. Slices are the caller's. */
  logits(hidden: Tensor): Tensor {
    return ops.logits(this.rt, hidden, this.head);
  }

  dispose(): void {
    for (const t of this.weights.values()) t.dispose();
    this.weights.clear();
    this.invFreq.dispose();
    this.lora?.dispose();
  }
}

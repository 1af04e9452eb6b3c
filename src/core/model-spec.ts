/**
 * ModelSpec: the one typed description of a decoder-only model (Qwen2, Qwen3, Llama) that the engine,
 * the runner and the UI share, plus the weights it implies in Hugging Face naming.
 */
import { FormatError, MissingTensorError } from './errors.ts';

export const ARCHS = ['qwen2', 'qwen3', 'llama'] as const;
export type Arch = (typeof ARCHS)[number];

/** RoPE frequency scaling, as in transformers' `rope_scaling` / `rope_parameters`. */
export type RopeScaling =
  | { type: 'none' }
  | { type: 'linear'; factor: number }
  | {
      type: 'llama3';
      factor: number;
      lowFreqFactor: number;
      highFreqFactor: number;
      originalMaxPositionEmbeddings: number;
    }
  | {
      type: 'yarn';
      factor: number;
      originalMaxPositionEmbeddings: number;
      betaFast: number;
      betaSlow: number;
      /** Scale of attention logits; transformers derives 0.1·ln(factor) + 1 when absent. */
      attentionFactor?: number;
    };

export type TorchDtype = 'float32' | 'float16' | 'bfloat16';

export interface ModelSpec {
  arch: Arch;
  /** Rows of the embedding / LM head; may exceed the tokenizer's size (padding rows). */
  vocabSize: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  rmsEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositions: number;
  tieEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2 always; Llama/Qwen3 with `attention_bias`). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama/Qwen3 `attention_bias`; never in Qwen2). */
  oBias: boolean;
  /** RMSNorm over head_dim on q and k before RoPE (Qwen3). */
  qkNorm: boolean;
  /** Bias on gate/up/down (Llama `mlp_bias`). */
  mlpBias: boolean;
  torchDtype: TorchDtype;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** One expected weight: HF name, shape, and what each dimension is in config terms (for messages). */
export interface WeightInfo {
  name: string;
  shape: number[];
  dims: string[];
}

/** Every weight a checkpoint for `spec` must hold, in HF naming and a stable order. */
export function tensorNamesFor(spec: ModelSpec): WeightInfo[] {
  const { vocabSize: V, hidden: C, intermediate: I, heads: H, kvHeads: KV, headDim: D } = spec;
  const out: WeightInfo[] = [];
  const add = (name: string, shape: number[], dims: string[]) => out.push({ name, shape, dims });
  const linear = (name: string, rows: number, cols: number, r: string, c: string, bias: boolean) => {
    add(`${name}.weight`, [rows, cols], [r, c]); // [out, in] as nn.Linear stores it
    if (bias) add(`${name}.bias`, [rows], [r]);
  };

  add('model.embed_tokens.weight', [V, C], ['vocab_size', 'hidden_size']);
  for (let i = 0; i < spec.layers; i++) {
    const p = `model.layers.${i}`;
    add(`${p}.input_layernorm.weight`, [C], ['hidden_size']);
    linear(`${p}.self_attn.q_proj`, H * D, C, 'num_attention_heads·head_dim', 'hidden_size', spec.qkvBias);
    linear(`${p}.self_attn.k_proj`, KV * D, C, 'num_key_value_heads·head_dim', 'hidden_size', spec.qkvBias);
    linear(`${p}.self_attn.v_proj`, KV * D, C, 'num_key_value_heads·head_dim', 'hidden_size', spec.qkvBias);
    linear(`${p}.self_attn.o_proj`, C, H * D, 'hidden_size', 'num_attention_heads·head_dim', spec.oBias);
    if (spec.qkNorm) {
      add(`${p}.self_attn.q_norm.weight`, [D], ['head_dim']);
      add(`${p}.self_attn.k_norm.weight`, [D], ['head_dim']);
    }
    add(`${p}.post_attention_layernorm.weight`, [C], ['hidden_size']);
    linear(`${p}.mlp.gate_proj`, I, C, 'intermediate_size', 'hidden_size', spec.mlpBias);
    linear(`${p}.mlp.up_proj`, I, C, 'intermediate_size', 'hidden_size', spec.mlpBias);
    linear(`${p}.mlp.down_proj`, C, I, 'hidden_size', 'intermediate_size', spec.mlpBias);
  }
  add('model.norm.weight', [C], ['hidden_size']);
  if (!spec.tieEmbeddings) add('lm_head.weight', [V, C], ['vocab_size', 'hidden_size']);
  return out;
}

/** Number of parameters (tied embeddings counted once). */
export function countParams(spec: ModelSpec): number {
  let n = 0;
  for (const w of tensorNamesFor(spec)) n += w.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** What validateCheckpoint needs: a SafetensorsHeader or a Checkpoint both fit. */
export interface TensorShapes {
  /** The file messages name for a missing tensor (the single file or the shard index). */
  file: string;
  tensors: ReadonlyMap<string, { shape: readonly number[]; file?: string }>;
}

/**
 * Checks that every weight the spec needs is present with the config's shape; returns the names the
 * checkpoint holds but the model does not use (e.g. a tied `lm_head.weight`, old `rotary_emb.inv_freq`).
 */
export function validateCheckpoint(spec: ModelSpec, ckpt: TensorShapes): { unused: string[] } {
  const expected = tensorNamesFor(spec);
  for (const w of expected) {
    const t = ckpt.tensors.get(w.name);
    if (!t) throw new MissingTensorError(ckpt.file, w.name);
    if (t.shape.length !== w.shape.length || t.shape.some((d, i) => d !== w.shape[i])) {
      throw new FormatError(
        { file: t.file ?? ckpt.file, tensor: w.name },
        `shape [${t.shape.join(', ')}] ≠ [${w.shape.join(', ')}] that config.json implies ([${w.dims.join(', ')}])`,
      );
    }
  }
  const names = new Set(expected.map((w) => w.name));
  return { unused: [...ckpt.tensors.keys()].filter((n) => !names.has(n)).sort() };
}

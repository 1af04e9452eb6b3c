/**
 * The demo's teacher and student: their shapes, HF config files, and the student's two starting
 * points. Everything here is data and arithmetic, so the CLI writes the files and tests check them.
 *
 * Sizes are set by two budgets: the teacher must learn the task exactly from a few thousand
 * examples on two CPU cores (`retort demo-models`), and the student must train in a browser tab —
 * on a laptop GPU it improves visibly within a minute; on CI's software WebGPU adapter (well under
 * 1 GFLOPS) a short run finishes in a couple of minutes.
 */
import { rng } from '../random.ts';
import type { TensorToWrite } from '../safetensors.ts';
import type { ModelSpec } from '../model-spec.ts';
import { demoSpecialIds } from './tokenizer-files.ts';

export interface DemoDims {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  intermediate: number;
}

/**
 * Qwen2 layout at toy scale: head_dim 32, grouped-query attention (2 query heads per kv head).
 * Narrow and deep: column arithmetic needs several hops of attention (find the digit, add, carry)
 * more than width, and a narrow model trains fast enough on two CPU cores to learn it exactly.
 */
export const TEACHER_DIMS: DemoDims = { hidden: 64, layers: 6, heads: 2, kvHeads: 1, intermediate: 256 };

export type StudentInit = 'random' | 'teacher-layers';
export const STUDENT_INITS: readonly StudentInit[] = ['random', 'teacher-layers'];

/**
 * 'random': narrower (48) and half as deep — what a user would pick to learn from scratch.
 * 'teacher-layers': the teacher's width (copied weights must fit), so only depth can shrink; with
 * the embeddings counted, one of six layers is what stays under a quarter of the parameters.
 */
export const STUDENT_DIMS: Record<StudentInit, DemoDims> = {
  random: { hidden: 48, layers: 3, heads: 2, kvHeads: 1, intermediate: 128 },
  'teacher-layers': { ...TEACHER_DIMS, layers: 1 },
};

/**
 * Which teacher layers a 'teacher-layers' student copies: spread evenly, first and last included;
 * a one-layer student takes the first, whose input is what the shared embeddings give. (Measured on
 * the demo teacher: after 25 SFT steps of 16 examples, first layer 1.59 validation CE, last layer
 * 2.06, random init 2.81.)
 */
export function teacherLayersFor(studentLayers: number, teacherLayers: number): number[] {
  if (studentLayers < 1 || studentLayers > teacherLayers) {
    throw new RangeError(`teacherLayersFor: a student of ${studentLayers} layers cannot copy from ${teacherLayers}`);
  }
  if (studentLayers === 1) return [0];
  return Array.from({ length: studentLayers }, (_, i) => Math.round((i * (teacherLayers - 1)) / (studentLayers - 1)));
}

export const MAX_POSITIONS = 256;

/** config.json for a demo model (Qwen2: q/k/v bias, tied embeddings, vocab = the tokenizer's ids). */
export function demoConfigJson(dims: DemoDims, torchDtype: 'float32' | 'bfloat16' = 'float32'): Record<string, unknown> {
  const ids = demoSpecialIds();
  return {
    architectures: ['Qwen2ForCausalLM'],
    model_type: 'qwen2',
    vocab_size: ids.size,
    hidden_size: dims.hidden,
    intermediate_size: dims.intermediate,
    num_hidden_layers: dims.layers,
    num_attention_heads: dims.heads,
    num_key_value_heads: dims.kvHeads,
    hidden_act: 'silu',
    max_position_embeddings: MAX_POSITIONS,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    tie_word_embeddings: true,
    bos_token_id: ids.endOfText,
    eos_token_id: ids.imEnd,
    attention_dropout: 0.0,
    use_sliding_window: false,
    torch_dtype: torchDtype,
  };
}

/** generation_config.json: stop at <|im_end|> (or <|endoftext|>), greedy unless asked otherwise. */
export function demoGenerationConfigJson(): Record<string, unknown> {
  const ids = demoSpecialIds();
  return {
    bos_token_id: ids.endOfText,
    eos_token_id: [ids.imEnd, ids.endOfText],
    pad_token_id: ids.endOfText,
    do_sample: false,
    max_new_tokens: 128,
  };
}

/** Parameters of a demo model (tied embeddings counted once). */
export function demoParams(dims: DemoDims): number {
  const V = demoSpecialIds().size;
  const C = dims.hidden;
  const D = C / dims.heads;
  const attn = C * dims.heads * D + dims.heads * D + 2 * (C * dims.kvHeads * D + dims.kvHeads * D) + dims.heads * D * C;
  const mlp = 3 * C * dims.intermediate;
  return V * C + dims.layers * (attn + mlp + 2 * C) + C;
}

// ---------------------------------------------------------------------------------------------
// student weights

/** Standard normal draws from the seeded PRNG (Box–Muller), so every runtime writes the same init. */
function normals(rand: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rand(); // (0, 1]: log stays finite
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u)) * std;
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/**
 * A fresh model as the worker's 'random' init makes one: matrices N(0, std²), norm weights 1,
 * biases 0. Tensors are drawn in name order from one seeded stream.
 */
export function randomTensors(names: readonly { name: string; shape: number[] }[], seed: number, std = 0.02): Record<string, TensorToWrite> {
  const rand = rng(seed);
  const out: Record<string, TensorToWrite> = {};
  for (const { name, shape } of [...names].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const n = shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (name.endsWith('norm.weight')) data = new Float32Array(n).fill(1);
    else if (name.endsWith('.bias')) data = new Float32Array(n);
    else data = normals(rand, n, std);
    out[name] = { dtype: 'F32', shape, data };
  }
  return out;
}

/**
 * Student tensor name → the teacher tensor it copies: student layer i takes teacher layer
 * `layers[i]`; embeddings and the final norm are shared as they are.
 */
export function teacherLayerSources(student: ModelSpec, teacher: ModelSpec, layers: readonly number[]): Map<string, string> {
  if (student.hidden !== teacher.hidden || student.intermediate !== teacher.intermediate || student.heads !== teacher.heads || student.kvHeads !== teacher.kvHeads) {
    throw new RangeError(
      `teacher-layers init needs the teacher's widths: student hidden/intermediate/heads/kv ${student.hidden}/${student.intermediate}/${student.heads}/${student.kvHeads}, ` +
        `teacher ${teacher.hidden}/${teacher.intermediate}/${teacher.heads}/${teacher.kvHeads}`,
    );
  }
  if (layers.length !== student.layers) throw new RangeError(`teacher-layers init: ${layers.length} layers listed for a student of ${student.layers}`);
  const bad = layers.find((l) => !Number.isInteger(l) || l < 0 || l >= teacher.layers);
  if (bad !== undefined) throw new RangeError(`teacher-layers init: teacher layer ${bad} does not exist (the teacher has ${teacher.layers})`);
  const map = new Map<string, string>();
  map.set('model.embed_tokens.weight', 'model.embed_tokens.weight');
  map.set('model.norm.weight', 'model.norm.weight');
  if (!student.tieEmbeddings) map.set('lm_head.weight', teacher.tieEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const parts = ['input_layernorm.weight', 'post_attention_layernorm.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight'];
  for (const p of ['q', 'k', 'v']) parts.push(`self_attn.${p}_proj.weight`, `self_attn.${p}_proj.bias`);
  parts.push('self_attn.o_proj.weight');
  layers.forEach((t, s) => {
    for (const part of parts) map.set(`model.layers.${s}.${part}`, `model.layers.${t}.${part}`);
  });
  return map;
}

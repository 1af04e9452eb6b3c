/**
 * Hugging Face `config.json` ⇄ ModelSpec for qwen2 (incl. DeepSeek-R1-Distill-Qwen), qwen3 and llama.
 * Defaults are those of the transformers config classes, so a sparse config means what it means there.
 * Mirrored in Python by src/runner/torch/retort_torch/config.py.
 */
import { FormatError } from './errors.ts';
import { type FileSource, joinPath, readJson } from './files.ts';
import { type Arch, ARCHS, type ModelSpec, type RopeScaling, type TorchDtype } from './model-spec.ts';

const ARCHITECTURES: Record<Arch, string> = {
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
  llama: 'LlamaForCausalLM',
};
const ROPE_TYPES = ['default', 'linear', 'llama3', 'yarn'] as const;
const DTYPES: readonly TorchDtype[] = ['float32', 'float16', 'bfloat16'];

export type HfConfigJson = Record<string, unknown>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Typed field access that names file and field in every error. */
class Fields {
  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly file: string,
    private readonly prefix = '',
  ) {}

  fail(key: string, detail: string): never {
    const field = this.prefix + key;
    throw new FormatError({ file: this.file, field }, `"${field}" ${detail}`);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  int(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (v === undefined) this.fail(key, 'is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) this.fail(key, `must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  }

  num(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (v === undefined) this.fail(key, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) this.fail(key, `must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'boolean') this.fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  tokenIds(key: string): number[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) {
      this.fail(key, `must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }
}

/** Parses a config.json object; `file` names it in errors. */
export function parseHfConfig(json: unknown, file: string): ModelSpec {
  if (!isRecord(json)) throw new FormatError({ file }, 'config must be a JSON object');
  const f = new Fields(json, file);
  const arch = json.model_type;
  if (typeof arch !== 'string' || !(ARCHS as readonly string[]).includes(arch)) {
    f.fail('model_type', `is ${JSON.stringify(arch)}; supported: ${ARCHS.join(', ')} (DeepSeek-R1-Distill-Qwen is qwen2)`);
  }
  const hiddenAct = json.hidden_act ?? 'silu';
  if (hiddenAct !== 'silu') f.fail('hidden_act', `is ${JSON.stringify(hiddenAct)}; only "silu" (SwiGLU) is supported`);
  if (json.use_sliding_window === true) f.fail('use_sliding_window', 'is true; sliding-window attention is not supported');

  const hidden = f.int('hidden_size');
  const heads = f.int('num_attention_heads');
  const kvHeads = f.int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0) f.fail('num_key_value_heads', `(${kvHeads}) must divide num_attention_heads (${heads})`);
  if (!f.has('head_dim') && arch !== 'qwen3' && hidden % heads !== 0) {
    f.fail('hidden_size', `(${hidden}) is not divisible by num_attention_heads (${heads})`);
  }
  // Qwen3Config's default head_dim is 128, used when the field is absent.
  const headDim = f.has('head_dim') ? f.int('head_dim') : arch === 'qwen3' ? 128 : hidden / heads;
  if (headDim % 2 !== 0) f.fail('head_dim', `must be even for RoPE, got ${headDim}`);

  const dtype = json.torch_dtype ?? json.dtype ?? 'float32'; // transformers ≥ 4.56 writes `dtype`
  if (typeof dtype !== 'string' || !(DTYPES as readonly string[]).includes(dtype)) {
    f.fail(json.torch_dtype !== undefined ? 'torch_dtype' : 'dtype', `is ${JSON.stringify(dtype)}; supported: ${DTYPES.join(', ')}`);
  }

  // transformers ≥ 5 keeps rope_theta and the scaling in `rope_parameters`.
  const ropeParams = isRecord(json.rope_parameters) ? json.rope_parameters : {};
  const rp = new Fields(ropeParams, file, 'rope_parameters.');
  const ropeTheta = rp.has('rope_theta') ? rp.num('rope_theta') : f.num('rope_theta', 10000);
  const maxPositions = f.int('max_position_embeddings', arch === 'llama' ? 2048 : 32768);
  let scalingSrc: unknown = json.rope_scaling;
  let scalingField = 'rope_scaling';
  if ((scalingSrc === undefined || scalingSrc === null) && (ropeParams.rope_type ?? 'default') !== 'default') {
    scalingSrc = ropeParams;
    scalingField = 'rope_parameters';
  }

  const attentionBias = f.bool('attention_bias', false);
  return {
    arch: arch as Arch,
    vocabSize: f.int('vocab_size'),
    hidden,
    intermediate: f.int('intermediate_size'),
    layers: f.int('num_hidden_layers'),
    heads,
    kvHeads,
    headDim,
    rmsEps: f.num('rms_norm_eps', 1e-6),
    ropeTheta,
    ropeScaling: parseRopeScaling(scalingSrc, file, scalingField, maxPositions),
    maxPositions,
    tieEmbeddings: f.bool('tie_word_embeddings', false),
    qkvBias: arch === 'qwen2' ? true : attentionBias,
    oBias: arch === 'qwen2' ? false : attentionBias,
    qkNorm: arch === 'qwen3',
    mlpBias: arch === 'llama' ? f.bool('mlp_bias', false) : false,
    torchDtype: dtype as TorchDtype,
    bosTokenId: f.tokenIds('bos_token_id')[0] ?? null,
    eosTokenIds: f.tokenIds('eos_token_id'),
  };
}

function parseRopeScaling(src: unknown, file: string, field: string, maxPositions: number): RopeScaling {
  if (src === undefined || src === null) return { type: 'none' };
  if (!isRecord(src)) throw new FormatError({ file, field }, `"${field}" must be an object or null`);
  const f = new Fields(src, file, `${field}.`);
  const kind = src.rope_type ?? src.type ?? 'default';
  if (typeof kind !== 'string' || !(ROPE_TYPES as readonly string[]).includes(kind)) {
    f.fail('rope_type', `is ${JSON.stringify(kind)}; supported: ${ROPE_TYPES.join(', ')}`);
  }
  switch (kind) {
    case 'default':
      return { type: 'none' };
    case 'linear':
      return { type: 'linear', factor: f.num('factor') };
    case 'llama3':
      return {
        type: 'llama3',
        factor: f.num('factor'),
        lowFreqFactor: f.num('low_freq_factor', 1),
        highFreqFactor: f.num('high_freq_factor', 4),
        originalMaxPositionEmbeddings: f.int('original_max_position_embeddings'),
      };
    default: {
      const yarn: RopeScaling = {
        type: 'yarn',
        factor: f.num('factor'),
        originalMaxPositionEmbeddings: f.int('original_max_position_embeddings', maxPositions),
        betaFast: f.num('beta_fast', 32),
        betaSlow: f.num('beta_slow', 1),
      };
      if (f.has('attention_factor')) yarn.attentionFactor = f.num('attention_factor');
      return yarn;
    }
  }
}

/** Reads and parses `DIR/config.json`. */
export async function loadHfConfig(src: FileSource, dir: string): Promise<ModelSpec> {
  const file = joinPath(dir, 'config.json');
  return parseHfConfig(await readJson(src, file), file);
}

function ropeToHf(r: RopeScaling): HfConfigJson | null {
  switch (r.type) {
    case 'none':
      return null;
    case 'linear':
      return { rope_type: 'linear', factor: r.factor };
    case 'llama3':
      return {
        rope_type: 'llama3',
        factor: r.factor,
        low_freq_factor: r.lowFreqFactor,
        high_freq_factor: r.highFreqFactor,
        original_max_position_embeddings: r.originalMaxPositionEmbeddings,
      };
    case 'yarn':
      return {
        rope_type: 'yarn',
        factor: r.factor,
        original_max_position_embeddings: r.originalMaxPositionEmbeddings,
        beta_fast: r.betaFast,
        beta_slow: r.betaSlow,
        ...(r.attentionFactor === undefined ? {} : { attention_factor: r.attentionFactor }),
      };
  }
}

/**
 * A config.json that transformers, vLLM and parseHfConfig read back as `spec`. Throws when the spec
 * has a combination the architecture cannot express (e.g. a Qwen2 without q/k/v bias).
 */
export function specToHfConfig(spec: ModelSpec): HfConfigJson {
  const refuse = (what: string): never => {
    throw new Error(`specToHfConfig: ${spec.arch} cannot express ${what}`);
  };
  if (spec.arch === 'qwen2' && (!spec.qkvBias || spec.oBias)) refuse('qkvBias=false or oBias=true');
  if (spec.arch !== 'qwen2' && spec.qkvBias !== spec.oBias) refuse('qkvBias ≠ oBias (one attention_bias flag)');
  if (spec.qkNorm !== (spec.arch === 'qwen3')) refuse(`qkNorm=${spec.qkNorm}`);
  if (spec.mlpBias && spec.arch !== 'llama') refuse('mlpBias=true');
  const eos = spec.eosTokenIds.length === 1 ? spec.eosTokenIds[0] : spec.eosTokenIds.length ? spec.eosTokenIds : null;
  return {
    architectures: [ARCHITECTURES[spec.arch]],
    model_type: spec.arch,
    vocab_size: spec.vocabSize,
    hidden_size: spec.hidden,
    intermediate_size: spec.intermediate,
    num_hidden_layers: spec.layers,
    num_attention_heads: spec.heads,
    num_key_value_heads: spec.kvHeads,
    head_dim: spec.headDim,
    hidden_act: 'silu',
    rms_norm_eps: spec.rmsEps,
    rope_theta: spec.ropeTheta,
    rope_scaling: ropeToHf(spec.ropeScaling),
    max_position_embeddings: spec.maxPositions,
    tie_word_embeddings: spec.tieEmbeddings,
    ...(spec.arch === 'qwen2' ? { use_sliding_window: false } : { attention_bias: spec.qkvBias }),
    ...(spec.arch === 'qwen3' ? { use_sliding_window: false } : {}),
    ...(spec.arch === 'llama' ? { mlp_bias: spec.mlpBias } : {}),
    attention_dropout: 0,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: spec.torchDtype,
    bos_token_id: spec.bosTokenId,
    eos_token_id: eos,
  };
}

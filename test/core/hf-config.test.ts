import { describe, expect, it } from 'vitest';
import { FormatError, MissingTensorError } from '../../src/core/errors.ts';
import { MapFileSource } from '../../src/core/files.ts';
import { loadHfConfig, parseHfConfig, specToHfConfig } from '../../src/core/hf-config.ts';
import { countParams, type ModelSpec, tensorNamesFor, validateCheckpoint } from '../../src/core/model-spec.ts';
import { Checkpoint, SafetensorsFile, writeSafetensors } from '../../src/core/safetensors.ts';

// The published config.json files, verbatim.
const R1_DISTILL_QWEN_1_5B = {
  architectures: ['Qwen2ForCausalLM'], attention_dropout: 0.0, bos_token_id: 151643, eos_token_id: 151643,
  hidden_act: 'silu', hidden_size: 1536, initializer_range: 0.02, intermediate_size: 8960,
  max_position_embeddings: 131072, max_window_layers: 21, model_type: 'qwen2', num_attention_heads: 12,
  num_hidden_layers: 28, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 10000, sliding_window: 4096,
  tie_word_embeddings: false, torch_dtype: 'bfloat16', transformers_version: '4.44.0', use_cache: true,
  use_mrope: false, use_sliding_window: false, vocab_size: 151936,
};
const QWEN3_0_6B = {
  architectures: ['Qwen3ForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 151643,
  eos_token_id: 151645, head_dim: 128, hidden_act: 'silu', hidden_size: 1024, initializer_range: 0.02,
  intermediate_size: 3072, max_position_embeddings: 40960, max_window_layers: 28, model_type: 'qwen3',
  num_attention_heads: 16, num_hidden_layers: 28, num_key_value_heads: 8, rms_norm_eps: 1e-6, rope_scaling: null,
  rope_theta: 1000000, sliding_window: null, tie_word_embeddings: true, torch_dtype: 'bfloat16',
  transformers_version: '4.51.0', use_cache: true, use_sliding_window: false, vocab_size: 151936,
};
const LLAMA_3_2_1B = {
  architectures: ['LlamaForCausalLM'], attention_bias: false, attention_dropout: 0.0, bos_token_id: 128000,
  eos_token_id: 128001, head_dim: 64, hidden_act: 'silu', hidden_size: 2048, initializer_range: 0.02,
  intermediate_size: 8192, max_position_embeddings: 131072, mlp_bias: false, model_type: 'llama',
  num_attention_heads: 32, num_hidden_layers: 16, num_key_value_heads: 8, pretraining_tp: 1, rms_norm_eps: 1e-5,
  rope_scaling: { factor: 32.0, high_freq_factor: 4.0, low_freq_factor: 1.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  rope_theta: 500000.0, tie_word_embeddings: true, torch_dtype: 'bfloat16', transformers_version: '4.45.0.dev0',
  use_cache: true, vocab_size: 128256,
};

describe('parseHfConfig', () => {
  it('DeepSeek-R1-Distill-Qwen-1.5B (qwen2): q/k/v bias, untied, 1,777,088,000 parameters', () => {
    const spec = parseHfConfig(R1_DISTILL_QWEN_1_5B, 'r1/config.json');
    expect(spec).toEqual({
      arch: 'qwen2', vocabSize: 151936, hidden: 1536, intermediate: 8960, layers: 28, heads: 12, kvHeads: 2,
      headDim: 128, rmsEps: 1e-6, ropeTheta: 10000, ropeScaling: { type: 'none' }, maxPositions: 131072,
      tieEmbeddings: false, qkvBias: true, oBias: false, qkNorm: false, mlpBias: false, torchDtype: 'bfloat16',
      bosTokenId: 151643, eosTokenIds: [151643],
    } satisfies ModelSpec);
    // The model card's 1.78B; hand sum: 2·V·C + L·(attn + mlp + norms) + C.
    expect(countParams(spec)).toBe(1_777_088_000);
  });

  it('Qwen3-0.6B: q/k norm, tied, 440,467,456 non-embedding parameters', () => {
    const spec = parseHfConfig(QWEN3_0_6B, 'q3/config.json');
    expect(spec).toMatchObject({ arch: 'qwen3', headDim: 128, qkNorm: true, qkvBias: false, oBias: false, tieEmbeddings: true, ropeTheta: 1e6 });
    expect(countParams(spec) - 151936 * 1024).toBe(440_467_456); // the model card's "0.44B non-embedding"
    const names = tensorNamesFor(spec);
    expect(names.find((w) => w.name === 'model.layers.27.self_attn.q_norm.weight')?.shape).toEqual([128]);
    expect(names.find((w) => w.name === 'model.layers.0.self_attn.q_proj.weight')?.shape).toEqual([2048, 1024]);
    expect(names.find((w) => w.name === 'model.layers.0.self_attn.o_proj.weight')?.shape).toEqual([1024, 2048]);
    expect(names.some((w) => w.name === 'lm_head.weight')).toBe(false);
  });

  it('Llama-3.2-1B: llama3 rope scaling, 1,235,814,400 parameters', () => {
    const spec = parseHfConfig(LLAMA_3_2_1B, 'l/config.json');
    expect(spec.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(spec).toMatchObject({ headDim: 64, rmsEps: 1e-5, qkvBias: false, mlpBias: false, bosTokenId: 128000 });
    expect(countParams(spec)).toBe(1_235_814_400);
  });

  it('defaults and variants: head_dim from hidden/heads, Qwen3 head_dim 128, eos lists, linear/yarn/rope_parameters, dtype key', () => {
    const tiny = { model_type: 'llama', vocab_size: 64, hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4 };
    const llama = parseHfConfig({ ...tiny, attention_bias: true, mlp_bias: true, eos_token_id: [1, 2] }, 'c');
    expect(llama).toMatchObject({ headDim: 8, kvHeads: 4, qkvBias: true, oBias: true, mlpBias: true, eosTokenIds: [1, 2], bosTokenId: null, torchDtype: 'float32', maxPositions: 2048, rmsEps: 1e-6 });
    expect(parseHfConfig({ ...tiny, model_type: 'qwen3' }, 'c').headDim).toBe(128);
    expect(parseHfConfig({ ...tiny, rope_scaling: { type: 'linear', factor: 2 } }, 'c').ropeScaling).toEqual({ type: 'linear', factor: 2 });
    expect(parseHfConfig({ ...tiny, max_position_embeddings: 4096, rope_scaling: { type: 'yarn', factor: 4 } }, 'c').ropeScaling).toEqual({
      type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 4096, betaFast: 32, betaSlow: 1,
    });
    const v5 = parseHfConfig({ ...tiny, dtype: 'float16', rope_parameters: { rope_type: 'linear', rope_theta: 5e5, factor: 8 } }, 'c');
    expect(v5).toMatchObject({ torchDtype: 'float16', ropeTheta: 5e5, ropeScaling: { type: 'linear', factor: 8 } });
    expect(parseHfConfig({ ...tiny, rope_scaling: { rope_type: 'default' } }, 'c').ropeScaling).toEqual({ type: 'none' });
  });

  const base = { ...R1_DISTILL_QWEN_1_5B };
  const errors: [string, unknown, string][] = [
    ['unsupported model_type', { ...base, model_type: 'mistral' }, 'm/config.json: "model_type" is "mistral"; supported: qwen2, qwen3, llama'],
    ['missing field', { ...base, hidden_size: undefined }, 'm/config.json: "hidden_size" is missing'],
    ['bad integer', { ...base, num_hidden_layers: 2.5 }, 'm/config.json: "num_hidden_layers" must be a positive integer, got 2.5'],
    ['kv heads do not divide', { ...base, num_key_value_heads: 5 }, '"num_key_value_heads" (5) must divide num_attention_heads (12)'],
    ['activation', { ...base, hidden_act: 'gelu' }, '"hidden_act" is "gelu"; only "silu"'],
    ['sliding window', { ...base, use_sliding_window: true }, '"use_sliding_window" is true'],
    ['rope type', { ...base, rope_scaling: { type: 'dynamic', factor: 2 } }, 'm/config.json: "rope_scaling.rope_type" is "dynamic"; supported: default, linear, llama3, yarn'],
    ['llama3 without original length', { ...LLAMA_3_2_1B, rope_scaling: { rope_type: 'llama3', factor: 8 } }, '"rope_scaling.original_max_position_embeddings" is missing'],
    ['dtype', { ...base, torch_dtype: 'int8' }, '"torch_dtype" is "int8"; supported: float32, float16, bfloat16'],
    ['eos', { ...base, eos_token_id: 'x' }, '"eos_token_id" must be a token id or a list of them'],
    ['not an object', [1, 2], 'm/config.json: config must be a JSON object'],
  ];
  for (const [what, json, message] of errors) {
    it(`error: ${what}`, () => {
      let err: unknown;
      try {
        parseHfConfig(json, 'm/config.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toContain(message);
    });
  }

  it('loads DIR/config.json from a FileSource and names the file when it is not JSON', async () => {
    const src = new MapFileSource({ 'm/config.json': JSON.stringify(QWEN3_0_6B), 'bad/config.json': '{"model_type": ' });
    expect((await loadHfConfig(src, 'm')).arch).toBe('qwen3');
    await expect(loadHfConfig(src, 'bad')).rejects.toThrow(/^bad\/config\.json: not valid JSON/);
  });
});

describe('specToHfConfig', () => {
  it('round-trips every architecture and rope scaling through parseHfConfig', () => {
    const specs = [R1_DISTILL_QWEN_1_5B, QWEN3_0_6B, LLAMA_3_2_1B].map((c) => parseHfConfig(c, 'c'));
    specs.push({ ...specs[2], ropeScaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 32768, betaFast: 32, betaSlow: 1, attentionFactor: 1.2 }, eosTokenIds: [1, 2], mlpBias: true, qkvBias: true, oBias: true });
    specs.push({ ...specs[1], ropeScaling: { type: 'linear', factor: 2 }, eosTokenIds: [], bosTokenId: null, qkvBias: true, oBias: true });
    for (const spec of specs) {
      const hf = specToHfConfig(spec);
      expect(parseHfConfig(JSON.parse(JSON.stringify(hf)), 'w')).toEqual(spec);
    }
    expect(specToHfConfig(specs[0])).toMatchObject({ architectures: ['Qwen2ForCausalLM'], rope_scaling: null, eos_token_id: 151643, tie_word_embeddings: false });
  });

  it('refuses specs the architecture cannot express', () => {
    const qwen2 = parseHfConfig(R1_DISTILL_QWEN_1_5B, 'c');
    expect(() => specToHfConfig({ ...qwen2, qkvBias: false })).toThrow('qwen2 cannot express qkvBias=false');
    expect(() => specToHfConfig({ ...qwen2, qkNorm: true })).toThrow('qwen2 cannot express qkNorm=true');
  });
});

describe('validateCheckpoint', () => {
  const spec: ModelSpec = {
    ...parseHfConfig(R1_DISTILL_QWEN_1_5B, 'c'),
    vocabSize: 16, hidden: 8, intermediate: 12, layers: 2, heads: 2, kvHeads: 1, headDim: 4,
  };
  const tensors = () =>
    Object.fromEntries(
      tensorNamesFor(spec).map((w) => [w.name, { dtype: 'F16' as const, shape: w.shape, data: new Float32Array(w.shape.reduce((a, b) => a * b, 1)) }]),
    );

  it('accepts a complete checkpoint, listing tensors the model does not use', async () => {
    const all = tensors();
    expect(Object.keys(all)).toHaveLength(2 + 2 * 12 + 1); // embed, norm, lm_head + 12 per layer (3 biases)
    all['model.layers.0.self_attn.rotary_emb.inv_freq'] = { dtype: 'F16', shape: [2], data: new Float32Array(2) };
    const ck = await Checkpoint.open(new MapFileSource({ 'd/model.safetensors': writeSafetensors(all) }), 'd');
    expect(validateCheckpoint(spec, ck)).toEqual({ unused: ['model.layers.0.self_attn.rotary_emb.inv_freq'] });
  });

  it('names a missing tensor and the file', () => {
    const all = tensors();
    delete all['model.layers.1.mlp.up_proj.weight'];
    const st = SafetensorsFile.fromBytes(writeSafetensors(all), 'DIR/model.safetensors');
    expect(() => validateCheckpoint(spec, st.header)).toThrow(new MissingTensorError('DIR/model.safetensors', 'model.layers.1.mlp.up_proj.weight'));
    expect(() => validateCheckpoint(spec, st.header)).toThrow('missing tensor model.layers.1.mlp.up_proj.weight in DIR/model.safetensors');
  });

  it('names a tensor whose shape disagrees with config.json', () => {
    const all = tensors();
    all['model.layers.1.self_attn.k_proj.weight'] = { dtype: 'F16', shape: [8, 8], data: new Float32Array(64) };
    const st = SafetensorsFile.fromBytes(writeSafetensors(all), 'DIR/model.safetensors');
    expect(() => validateCheckpoint(spec, st.header)).toThrow(
      'DIR/model.safetensors: tensor model.layers.1.self_attn.k_proj.weight: shape [8, 8] ≠ [4, 8] that config.json implies ([num_key_value_heads·head_dim, hidden_size])',
    );
  });
});

/**
 * Random tiny checkpoints in the Hugging Face layout (config.json + model.safetensors, optionally
 * the real Qwen tokenizer), for tests that load models the way users do. Seeded, so deterministic.
 */
import { specToHfConfig } from '../../src/core/hf-config.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { tensorNamesFor } from '../../src/core/model-spec.ts';
import { type TensorToWrite, type WritableDtype, writeShardedSafetensors } from '../../src/core/safetensors.ts';
import { randn } from './numeric.ts';
import { qwenTokenizerFiles } from './qwen-tokenizer.ts';

/** A small spec per architecture; override any field. */
export function tinySpec(arch: ModelSpec['arch'], over: Partial<ModelSpec> = {}): ModelSpec {
  return {
    arch,
    vocabSize: 96,
    hidden: 32,
    intermediate: 48,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 8,
    rmsEps: 1e-6,
    ropeTheta: 10000,
    ropeScaling: { type: 'none' },
    maxPositions: 256,
    tieEmbeddings: arch !== 'qwen2',
    qkvBias: arch === 'qwen2',
    oBias: false,
    qkNorm: arch === 'qwen3',
    mlpBias: false,
    torchDtype: 'float32',
    bosTokenId: null,
    eosTokenIds: [1],
    ...over,
  };
}

export interface TinyOptions {
  seed?: number;
  dtype?: WritableDtype;
  /** Split into shards of at most this many bytes (default: one file). */
  maxShardBytes?: number;
  /** Add the real Qwen tokenizer files (then vocabSize should be ≥ 151,669). */
  qwenTokenizer?: boolean;
}

/** Files of a checkpoint folder, keyed by name: feed them to a MapFileSource or write them to disk. */
export async function tinyCheckpointFiles(spec: ModelSpec, opts: TinyOptions = {}): Promise<Map<string, Uint8Array | string>> {
  const dtype = opts.dtype ?? 'F32';
  let seed = opts.seed ?? 1;
  const tensors: Record<string, TensorToWrite> = {};
  for (const w of tensorNamesFor(spec)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    // Norm weights near 1, everything else small, as in a trained model.
    const isNorm = /norm\.weight$/.test(w.name);
    const data = randn(n, seed++, isNorm ? 0.1 : 0.2);
    if (isNorm) for (let i = 0; i < n; i++) data[i] += 1;
    tensors[w.name] = { dtype, shape: w.shape, data };
  }
  const files = new Map<string, Uint8Array | string>(writeShardedSafetensors(tensors, opts.maxShardBytes ?? Infinity));
  files.set('config.json', JSON.stringify(specToHfConfig(spec), null, 2) + '\n');
  if (opts.qwenTokenizer) for (const [name, bytes] of Object.entries(await qwenTokenizerFiles())) files.set(name, bytes);
  return files;
}

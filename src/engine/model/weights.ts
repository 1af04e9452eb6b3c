import type { FileSource } from '../../core/files.ts';
import { Checkpoint, f32ToBf16, f32ToF16 } from '../../core/safetensors.ts';
import { loadHfConfig } from '../../core/hf-config.ts';
import { tensorNamesFor, validateCheckpoint, type ModelSpec } from '../../core/model-spec.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor, DType } from '../tensor.ts';
import { rng } from '../../core/random.ts';
import { packHalves } from '../kernels/pack.ts';

/** How weights live on the GPU. Packed f16/bf16 halves memory for a frozen teacher (no `shader-f16` needed). */
export type WeightDtype = Extract<DType, 'f32' | 'f16' | 'bf16'>;

export interface LoadedWeights {
  spec: ModelSpec;
  /** HF names → GPU tensors. 2-D matrices may be packed; norms and biases are always f32. */
  tensors: Map<string, Tensor>;
  source: string;
}

const isMatrix = (name: string) => name.endsWith('_proj.weight') || name === 'model.embed_tokens.weight' || name === 'lm_head.weight';

/**
 * Reads `config.json` and the safetensors weights of a folder in HF layout onto the GPU, checking every
 * tensor's name and shape against the config first (errors name the tensor and file).
 */
export async function loadWeights(rt: Runtime, files: FileSource, dir: string, dtype: WeightDtype = 'f32'): Promise<LoadedWeights> {
  const spec = await loadHfConfig(files, dir);
  const ckpt = await Checkpoint.open(files, dir);
  validateCheckpoint(spec, ckpt);
  const tensors = new Map<string, Tensor>();
  for (const w of tensorNamesFor(spec)) {
    const packed = dtype !== 'f32' && isMatrix(w.name);
    const data = await ckpt.read(w.name);
    let t: Tensor;
    if (packed && ((dtype === 'f16' && data.dtype === 'F16') || (dtype === 'bf16' && data.dtype === 'BF16'))) {
      t = rt.upload(packHalves(data.data as Uint16Array), w.shape, dtype, w.name);
    } else {
      const f32 = await ckpt.float32(w.name);
      t = packed ? rt.upload(packF32(f32, dtype), w.shape, dtype, w.name) : rt.upload(f32, w.shape, 'f32', w.name);
    }
    tensors.set(w.name, t);
  }
  return { spec, tensors, source: ckpt.file };
}

function packF32(values: Float32Array, dtype: WeightDtype): Uint32Array {
  return packHalves(dtype === 'bf16' ? f32ToBf16(values) : f32ToF16(values));
}

/**
 * Random weights for a spec (normal(0, std) matrices, norms near 1, small biases): a model to train
 * from scratch in the tab, or for tests. Deterministic for a seed.
 */
export function randomWeights(rt: Runtime, spec: ModelSpec, seed: number, std = 0.02): LoadedWeights {
  const rand = rng(seed);
  const normal = () => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
  const tensors = new Map<string, Tensor>();
  for (const w of tensorNamesFor(spec)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const isNorm = w.name.endsWith('norm.weight');
    const isBias = w.name.endsWith('.bias');
    const data = Float32Array.from({ length: n }, () => (isNorm ? 1 + 0.1 * normal() : (isBias ? 0.5 : 1) * std * normal()));
    tensors.set(w.name, rt.upload(data, w.shape, 'f32', w.name));
  }
  return { spec, tensors, source: `random(seed=${seed})` };
}

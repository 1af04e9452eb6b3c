/**
 * ONNX Runtime's Node binding (CPU), for checks and comparisons outside the browser. It comes with
 * @huggingface/transformers (which pins it); its CUDA download is skipped by .npmrc, the CPU binaries
 * ship inside the npm package.
 */
import { createRequire } from 'node:module';
import { OnnxCausalLM, type CacheShape, type OrtSessionLike, type OrtTensorFactory, type OrtTensorLike } from './causal-lm.ts';

interface OrtNode {
  Tensor: new (type: 'int64' | 'float32', data: BigInt64Array | Float32Array, dims: number[]) => OrtTensorLike;
  InferenceSession: { create(path: string | Uint8Array, options?: { executionProviders?: string[] }): Promise<OrtSessionLike> };
}

let ort: OrtNode | null = null;

export function ortNode(): OrtNode {
  ort ??= createRequire(import.meta.url)('onnxruntime-node') as OrtNode;
  return ort;
}

export const nodeTensors: OrtTensorFactory = {
  int64: (data, dims) => new (ortNode().Tensor)('int64', data, dims),
  float32: (data, dims) => new (ortNode().Tensor)('float32', data, dims),
};

/** Opens an ONNX file on ORT's CPU EP; ORT's own error (unknown op, bad opset, missing external data) is kept, prefixed with the file. */
export async function openOnnxSession(path: string): Promise<OrtSessionLike> {
  try {
    return await ortNode().InferenceSession.create(path, { executionProviders: ['cpu'] });
  } catch (e) {
    throw new Error(`${path}: ONNX Runtime cannot load it: ${(e as Error).message}`);
  }
}

export async function openOnnxCausalLM(path: string, cache: CacheShape): Promise<OnnxCausalLM> {
  return new OnnxCausalLM(await openOnnxSession(path), nodeTensors, cache, path);
}

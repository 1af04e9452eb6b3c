import { writeSafetensors, type TensorToWrite } from '../../core/safetensors.ts';
import { specToHfConfig } from '../../core/hf-config.ts';
import type { Decoder } from './decoder.ts';
import type { Tensor } from '../tensor.ts';
import { peftName } from './lora.ts';

/** Files of a checkpoint, by name, ready to be written to a folder (Node) or OPFS (browser). */
export type CheckpointFiles = Map<string, Uint8Array>;

const utf8 = new TextEncoder();

async function toWrite(t: Tensor): Promise<TensorToWrite> {
  if (t.dtype !== 'f32') throw new Error(`saving ${t.describe()}: only f32 weights are saved (trainable weights are f32)`);
  return { dtype: 'F32', shape: [...t.shape], data: await t.rt.readF32(t) };
}

/**
 * The student in Hugging Face layout: config.json + model.safetensors (f32), loadable by
 * transformers and vLLM; with LoRA, the PEFT adapter (adapter_config.json + adapter_model.safetensors)
 * instead of the full weights.
 */
export async function checkpointFiles(model: Decoder, extra: Record<string, string | Uint8Array> = {}, baseModel = ''): Promise<CheckpointFiles> {
  const files: CheckpointFiles = new Map();
  if (model.lora) {
    const tensors: Record<string, TensorToWrite> = {};
    for (const [path, pair] of model.lora.pairs) {
      tensors[peftName(path, 'A')] = await toWrite(pair.A);
      tensors[peftName(path, 'B')] = await toWrite(pair.B);
    }
    files.set('adapter_model.safetensors', writeSafetensors(tensors));
    files.set('adapter_config.json', utf8.encode(JSON.stringify(model.lora.adapterConfig(baseModel), null, 2)));
  } else {
    const tensors: Record<string, TensorToWrite> = {};
    for (const [name, t] of model.weights) tensors[name] = await toWrite(t);
    files.set('model.safetensors', writeSafetensors(tensors));
    files.set('config.json', utf8.encode(JSON.stringify({ ...specToHfConfig(model.spec), torch_dtype: 'float32' }, null, 2)));
  }
  for (const [name, content] of Object.entries(extra)) files.set(name, typeof content === 'string' ? utf8.encode(content) : content);
  return files;
}

/**
 * A model folder exported by `retort export`, loaded with transformers.js from local files only, as
 * the comparison interface (src/onnx/compare.ts) and a token stream. transformers.js keeps the KV
 * cache in GPU buffers between steps on the WebGPU EP. Which execution provider runs the model is
 * decided here and reported: WebGPU when the browser has an adapter, else wasm, with the reason.
 */
import { AutoModelForCausalLM, BaseStreamer, env, Tensor, type PreTrainedModel } from '@huggingface/transformers';
import type { ExportDtype } from '../core/schema/export.ts';
import type { ComparableLM } from './compare.ts';

export type OnnxDevice = 'webgpu' | 'wasm' | 'cpu';

export interface DeviceChoice {
  device: OnnxDevice;
  /** Why not WebGPU, when it is not (shown next to the numbers, never hidden). */
  fallback: string | null;
}

/** WebGPU when an adapter can be had, else wasm with the reason; `wanted` forces one. */
export async function chooseDevice(wanted?: OnnxDevice): Promise<DeviceChoice> {
  if (wanted) return { device: wanted, fallback: null };
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) return { device: 'wasm', fallback: 'this browser has no WebGPU (navigator.gpu is missing): running on wasm (CPU)' };
  const adapter = await gpu.requestAdapter().catch(() => null);
  if (!adapter) return { device: 'wasm', fallback: 'WebGPU found no adapter: running on wasm (CPU)' };
  return { device: 'webgpu', fallback: null };
}

/**
 * Points transformers.js at a local folder tree and nowhere else: `root` is the URL (or, in Node, the
 * directory) that holds model folders; ORT's wasm files come from `wasm` (the app's own copies).
 */
export function configureLocal(root: string, wasm?: { wasm: string; mjs?: string }): void {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root.endsWith('/') ? root : root + '/';
  env.useBrowserCache = false;
  const onnx = env.backends.onnx as { wasm?: { wasmPaths?: unknown; numThreads?: number } } | undefined;
  if (wasm && onnx?.wasm) {
    onnx.wasm.wasmPaths = wasm;
    // Without cross-origin isolation there are no threads; say so instead of letting ORT probe.
    if (!globalThis.crossOriginIsolated) onnx.wasm.numThreads = 1;
  }
}

export interface LoadedOnnx {
  model: PreTrainedModel;
  device: DeviceChoice;
}

export async function loadOnnxModel(folder: string, dtype: ExportDtype, device: DeviceChoice): Promise<LoadedOnnx> {
  const model = await AutoModelForCausalLM.from_pretrained(folder, { dtype, device: device.device, local_files_only: true });
  return { model, device };
}

const ids64 = (ids: readonly number[]) => new Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
const ones64 = (n: number) => new Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
const now = () => performance.now() / 1000;

type GenerateOptions = Parameters<PreTrainedModel['generate']>[0];

/** Calls `onToken` for each new token (not the prompt) and notes when the first and last arrived. */
class TimingStreamer extends BaseStreamer {
  private prompt = true;
  firstAt = 0;
  lastAt = 0;
  readonly ids: number[] = [];
  constructor(private readonly onToken: (id: number) => void) {
    super();
  }
  override put(value: bigint[][]): void {
    if (this.prompt) {
      this.prompt = false; // generate() hands the prompt over first
      return;
    }
    const t = now();
    if (this.ids.length === 0) this.firstAt = t;
    this.lastAt = t;
    for (const id of value[0]) {
      this.ids.push(Number(id));
      this.onToken(Number(id));
    }
  }
  override end(): void {}
}

/** Greedy generation through transformers.js, streaming ids; timed like the engine's. */
export async function streamGreedy(model: PreTrainedModel, prompt: readonly number[], maxNew: number, stop: readonly number[], onToken: (id: number) => void) {
  const streamer = new TimingStreamer(onToken);
  const t0 = now();
  await model.generate({
    inputs: ids64(prompt), attention_mask: ones64(prompt.length),
    max_new_tokens: maxNew, do_sample: false, eos_token_id: [...stop],
    // the declared type intersects BaseStreamer with TextStreamer; generate() itself only calls put/end
    streamer: streamer as unknown as GenerateOptions['streamer'],
  });
  return { ids: streamer.ids, prefillSeconds: streamer.firstAt - t0, decodeSeconds: streamer.lastAt - streamer.firstAt };
}

export function transformersLM(loaded: LoadedOnnx, label: string, bytes: number): ComparableLM {
  const { model } = loaded;
  return {
    label: `${label} (${loaded.device.device})`,
    bytes,
    async logits(ids) {
      const out = (await model({ input_ids: ids64(ids), attention_mask: ones64(ids.length) })) as Record<string, Tensor>;
      const logits = out.logits;
      // the cache comes back in GPU buffers on WebGPU: free it, only the logits are wanted
      for (const [name, t] of Object.entries(out)) if (name !== 'logits') t.dispose();
      return { data: Float32Array.from(logits.data as Float32Array), vocab: logits.dims[logits.dims.length - 1] };
    },
    greedy: (prompt, maxNew, stop) => streamGreedy(model, prompt, maxNew, stop, () => {}),
  };
}

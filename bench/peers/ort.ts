/**
 * ONNX Runtime Web with its WebGPU execution provider, fully offline: the wasm runtime is the file
 * from node_modules that Vite copies into the build (a `?url` import), never a CDN. We use the
 * `onnxruntime-web/webgpu` build (the C++ WebGPU EP on the asyncify wasm), the one transformers.js loads.
 */
import * as ort from 'onnxruntime-web/webgpu';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';

let configured = false;
let sessions = 0;

function configure(): void {
  if (configured) return;
  configured = true;
  ort.env.wasm.wasmPaths = { wasm: wasmUrl };
  // Without cross-origin isolation there is no SharedArrayBuffer; say so instead of letting ORT probe.
  ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? 0 : 1;
  ort.env.logLevel = 'error';
}

export const ORT_VERSION: string = ort.env.versions.web ?? ort.env.versions.common;

/** A session on the WebGPU EP whose outputs stay in GPU buffers (no read back per run). */
export async function ortSession(model: Uint8Array): Promise<ort.InferenceSession> {
  configure();
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['webgpu'],
    preferredOutputLocation: 'gpu-buffer',
    graphOptimizationLevel: 'all',
  });
  sessions++;
  return session;
}

/** The adapter behind ORT's device, once a session exists (asking earlier would make ORT create one). */
export async function ortAdapter(): Promise<string | null> {
  if (sessions === 0) return null;
  const info = (await ortDevice()).adapterInfo;
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
}

/** ORT's own device (it exists once a WebGPU session has been created). */
export async function ortDevice(): Promise<GPUDevice> {
  return (await ort.env.webgpu.device) as GPUDevice;
}

/** A float32 input tensor living in a GPU buffer on ORT's device, so runs time no upload. */
export function ortGpuInput(device: GPUDevice, data: Float32Array, dims: readonly number[]): { tensor: ort.Tensor; buffer: GPUBuffer } {
  const buffer = device.createBuffer({
    size: Math.ceil(data.byteLength / 16) * 16,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, data.byteLength);
  return { tensor: ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims }), buffer };
}

export { ort };

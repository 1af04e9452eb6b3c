/**
 * TensorFlow.js on its WebGPU backend, with gradients and chained ops (`x.mul(y)`) registered, as the
 * full `@tensorflow/tfjs` bundle does — tfjs-core alone registers neither.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

export const TFJS_VERSION: string = tf.version_core;

export async function tfjsBackend(): Promise<WebGPUBackend> {
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs: the webgpu backend failed to initialise');
  await tf.ready();
  const b = tf.backend();
  if (!(b instanceof WebGPUBackend)) throw new Error(`tfjs: active backend is ${tf.getBackend()}, not webgpu`);
  return b;
}

/**
 * Submits what tfjs has batched (it defers up to 15 dispatches) and waits for the GPU — the tfjs
 * equivalent of the engine's `rt.sync()`, with no read back.
 */
export async function tfjsSync(b: WebGPUBackend): Promise<void> {
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.submitQueue();
  await b.queue.onSubmittedWorkDone();
}

export { tf };

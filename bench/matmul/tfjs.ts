import { tf, tfjsSync } from '../peers/tfjs.ts';
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { MatmulShape } from '../protocol.ts';
import { transpose, type Timed } from '../timed.ts';

/** TensorFlow.js WebGPU: `tf.matMul(A, B)` with B [K, N], its natural layout. */
export function tfjsMatmul(backend: WebGPUBackend, s: MatmulShape, a: Float32Array, w: Float32Array): Timed {
  const A = tf.tensor2d(a, [s.M, s.K]);
  const B = tf.tensor2d(transpose(w, s.N, s.K), [s.K, s.N]);
  let last: tf.Tensor | null = null;
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        const c = tf.matMul(A, B);
        last?.dispose();
        last = c;
      }
      await tfjsSync(backend);
    },
    async read() {
      if (!last) throw new Error('tfjs matmul: read before run');
      return (await last.data()) as Float32Array;
    },
    dispose() {
      last?.dispose();
      A.dispose();
      B.dispose();
    },
  };
}

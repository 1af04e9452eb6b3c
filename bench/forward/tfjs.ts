import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { TfjsDecoder } from '../model/tfjs-decoder.ts';
import type { Batch, HostWeights } from '../model/student.ts';
import { tf, tfjsSync } from '../peers/tfjs.ts';
import type { Timed } from '../timed.ts';

/** The hand-written tfjs decoder's forward (logits for every token), intermediates freed by tf.tidy. */
export function tfjsForward(backend: WebGPUBackend, spec: ModelSpec, w: HostWeights, batch: Batch): Timed {
  const model = new TfjsDecoder(spec, w, batch.T, false);
  const ids = tf.tensor1d(batch.ids, 'int32');
  let last: tf.Tensor | null = null;
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        const logits = tf.tidy(() => model.forward(ids, batch.B));
        last?.dispose();
        last = logits;
      }
      await tfjsSync(backend);
    },
    async read() {
      if (!last) throw new Error('tfjs forward: read before run');
      return (await last.data()) as Float32Array;
    },
    dispose() {
      last?.dispose();
      ids.dispose();
      model.dispose();
    },
  };
}

import { decoderModel } from '../model/onnx-decoder.ts';
import type { Batch, HostWeights } from '../model/student.ts';
import { ortDevice, ortSession, ort } from '../peers/ort.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import type { Timed } from '../timed.ts';

/** ORT-web WebGPU EP running the student's standard-op ONNX graph; logits stay in a GPU buffer. */
export async function ortForward(spec: ModelSpec, w: HostWeights, batch: Batch): Promise<Timed> {
  const session = await ortSession(decoderModel(spec, w, batch.B, batch.T));
  const device = await ortDevice();
  // ids go up from the CPU every run, as the engine's forward uploads them too (B·T int64s)
  const ids = new ort.Tensor('int64', BigInt64Array.from(Array.from(batch.ids, BigInt)), [batch.B, batch.T]);
  let last: ort.Tensor | null = null;
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        const out = await session.run({ input_ids: ids });
        last?.dispose();
        last = out.logits;
      }
      await device.queue.onSubmittedWorkDone();
    },
    async read() {
      if (!last) throw new Error('ORT forward: read before run');
      return (await last.getData()) as Float32Array;
    },
    dispose() {
      last?.dispose();
      void session.release();
    },
  };
}

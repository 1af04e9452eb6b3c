import { matmulModel } from '../onnx-graph.ts';
import { ortDevice, ortGpuInput, ortSession, type ort } from '../peers/ort.ts';
import type { MatmulShape } from '../protocol.ts';
import { transpose, type Timed } from '../timed.ts';

/** ORT-web WebGPU EP: one MatMul node, the weight an initializer [K, N] (as in an exported model), A a GPU buffer. */
export async function ortMatmul(s: MatmulShape, a: Float32Array, w: Float32Array): Promise<Timed> {
  const session = await ortSession(matmulModel(s.M, s.K, s.N, transpose(w, s.N, s.K)));
  const device = await ortDevice();
  const A = ortGpuInput(device, a, [s.M, s.K]);
  let last: ort.Tensor | null = null;
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        const out = await session.run({ A: A.tensor });
        last?.dispose();
        last = out.Y;
      }
      await device.queue.onSubmittedWorkDone();
    },
    async read() {
      if (!last) throw new Error('ORT matmul: read before run');
      return (await last.getData()) as Float32Array;
    },
    dispose() {
      last?.dispose();
      A.buffer.destroy();
      void session.release();
    },
  };
}

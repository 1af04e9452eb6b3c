import type { ModelSpec } from '../../src/core/model-spec.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import type { Tensor } from '../../src/engine/tensor.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { engineWeights } from '../model/engine-weights.ts';
import type { Batch, HostWeights } from '../model/student.ts';
import type { Timed } from '../timed.ts';

/** The engine's inference forward (no tape) and LM head: logits for every token, as ORT's graph returns. */
export function engineForward(rt: Runtime, spec: ModelSpec, w: HostWeights, batch: Batch): Timed {
  const model = new Decoder(rt, engineWeights(rt, spec, w));
  let last: Tensor | null = null;
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        const { hidden } = model.forward(batch.ids, batch.B, batch.T); // [B·T, C]
        const logits = model.logits(hidden); // [B·T, V]
        hidden.dispose();
        last?.dispose();
        last = logits;
      }
      await rt.sync();
    },
    async read() {
      if (!last) throw new Error('engine forward: read before run');
      return rt.readF32(last);
    },
    dispose() {
      last?.dispose();
      model.dispose();
    },
  };
}

import { tensorNamesFor, type ModelSpec } from '../../src/core/model-spec.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import type { LoadedWeights } from '../../src/engine/model/weights.ts';
import type { Tensor } from '../../src/engine/tensor.ts';
import type { HostWeights } from './student.ts';

/** The bench's host weights on the engine's device, in the shape `new Decoder(rt, …)` takes. */
export function engineWeights(rt: Runtime, spec: ModelSpec, w: HostWeights): LoadedWeights {
  const tensors = new Map<string, Tensor>();
  for (const info of tensorNamesFor(spec)) {
    const data = w.get(info.name);
    if (!data) throw new Error(`engine weights: ${info.name} is missing`);
    tensors.set(info.name, rt.upload(data, info.shape, 'f32', info.name));
  }
  return { spec, tensors, source: 'bench host weights' };
}

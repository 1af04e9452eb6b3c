/**
 * The engine's decoder behind the comparison interface (src/onnx/compare.ts): the full-precision side
 * of "full vs quantized", in a browser worker or in Node on Dawn alike.
 */
import type { Decoder } from '../engine/model/decoder.ts';
import { generate } from '../engine/generate.ts';
import type { ComparableLM } from './compare.ts';

const now = () => performance.now() / 1000;

export function engineLM(model: Decoder, label: string, bytes: number): ComparableLM {
  const { rt, spec } = model;
  return {
    label,
    bytes,
    async logits(ids) {
      const { hidden } = model.forward(Int32Array.from(ids), 1, ids.length);
      const logits = model.logits(hidden);
      const data = await rt.readF32(logits);
      hidden.dispose();
      logits.dispose();
      return { data, vocab: spec.vocabSize };
    },
    async greedy(prompt, maxNew, stop) {
      const ids: number[] = [];
      let t = now(), prefillSeconds = 0;
      // generate() reads each token back before yielding it, so these are the GPU's times too
      for await (const id of generate(model, Int32Array.from(prompt), { temperature: 0, maxNewTokens: maxNew, stopIds: [...stop] })) {
        if (ids.length === 0) {
          prefillSeconds = now() - t;
          t = now();
        }
        ids.push(id);
      }
      return { ids, prefillSeconds, decodeSeconds: now() - t };
    },
  };
}

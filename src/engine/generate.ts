import type { Decoder } from './model/decoder.ts';
import { KvCache } from './model/kv-cache.ts';
import { sampleTokens } from './kernels/sample.ts';
import { sliceRows } from './ops.ts';

export interface SamplingOptions {
  /** 0 = greedy. */
  temperature: number;
  topK: number;
  topP: number;
  repetitionPenalty: number;
  maxNewTokens: number;
  seed: number;
  /** Generation stops after any of these ids (EOS). */
  stopIds: readonly number[];
  /** Only the first `vocab` logits are sampled (padded vocabulary rows are ignored). */
  vocab?: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = {
  temperature: 0.6, topK: 0, topP: 0.95, repetitionPenalty: 1, maxNewTokens: 256, seed: 0, stopIds: [],
};

/**
 * Autoregressive generation with a KV cache: one prefill over the prompt, then one position per
 * step. Sampling runs on the GPU and only the chosen id (4 bytes) is read back each step.
 */
export async function* generate(model: Decoder, prompt: Int32Array, opts: Partial<SamplingOptions> = {}): AsyncGenerator<number> {
  const o = { ...DEFAULT_SAMPLING, ...opts };
  const { rt, spec } = model;
  const vocab = o.vocab ?? spec.vocabSize;
  const cache = new KvCache(rt, spec, 1, Math.min(spec.maxPositions, prompt.length + o.maxNewTokens));
  const history: number[] = Array.from(prompt);
  try {
    let input = prompt;
    for (let step = 0; step < o.maxNewTokens; step++) {
      const { hidden } = model.forward(input, 1, input.length, { cache });
      const lastRow = sliceRows(rt, hidden, input.length - 1, 1);
      const logits = model.logits(lastRow); // [1, Vpad]
      const ids = sampleTokens(rt, logits, {
        vocab, temperature: o.temperature, topK: o.topK, topP: o.topP,
        repetitionPenalty: o.repetitionPenalty, history, seed: o.seed, step,
      });
      const next = (await rt.read(ids))[0];
      for (const t of [hidden, lastRow, logits, ids]) t.dispose();
      history.push(next);
      yield next;
      if (o.stopIds.includes(next)) return;
      input = Int32Array.of(next);
    }
  } finally {
    cache.dispose();
  }
}

import type { ModelSpec } from '../../core/model-spec.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';

/** Keys and values of every layer for B sequences, [B, maxLen, KV, D] each, allocated once. */
export class KvCache {
  readonly keys: Tensor[] = [];
  readonly values: Tensor[] = [];
  length = 0;

  constructor(rt: Runtime, spec: ModelSpec, readonly batch: number, readonly maxLen: number) {
    for (let l = 0; l < spec.layers; l++) {
      this.keys.push(rt.zeros([batch, maxLen, spec.kvHeads, spec.headDim], 'f32', `cache.k.${l}`));
      this.values.push(rt.zeros([batch, maxLen, spec.kvHeads, spec.headDim], 'f32', `cache.v.${l}`));
    }
  }

  /** Called by the decoder once all layers have appended `tokens` positions. */
  advance(tokens: number): void {
    if (this.length + tokens > this.maxLen) throw new Error(`KV cache full: ${this.length} + ${tokens} > ${this.maxLen} positions`);
    this.length += tokens;
  }

  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
  }
}

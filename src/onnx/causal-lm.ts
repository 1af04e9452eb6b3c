/**
 * Drives an exported decoder (src/onnx/decoder-graph.ts, or any optimum/transformers.js decoder with
 * the same interface) through an ONNX Runtime: full-sequence logits and greedy KV-cache decoding,
 * timed. Written against the API onnxruntime-node and onnxruntime-web share, so the same code runs the
 * CPU checks in Node and the WebGPU runs in a browser (transformers.js drives the worker's generation;
 * this is the plain-session path for measurements that need the raw logits).
 */

/** What we use of an ORT tensor (onnxruntime-common's Tensor). */
export interface OrtTensorLike {
  readonly dims: readonly number[];
  readonly data: unknown;
  readonly type: string;
  dispose?(): void;
}

/** What we use of an ORT session. */
export interface OrtSessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensorLike>): Promise<Record<string, OrtTensorLike>>;
  release?(): Promise<void>;
}

/** Builds ORT tensors (the runtime's `Tensor` constructor, wrapped so both runtimes fit one type). */
export interface OrtTensorFactory {
  int64(data: BigInt64Array, dims: number[]): OrtTensorLike;
  float32(data: Float32Array, dims: number[]): OrtTensorLike;
}

export interface CacheShape {
  layers: number;
  kvHeads: number;
  headDim: number;
}

export interface GreedyResult {
  ids: number[];
  /** Seconds spent in the prompt's forward (prefill) and in the one-token steps (decode). */
  prefillSeconds: number;
  decodeSeconds: number;
}

const now = () => performance.now() / 1000;

export class OnnxCausalLM {
  constructor(
    private readonly session: OrtSessionLike,
    private readonly tensors: OrtTensorFactory,
    private readonly cache: CacheShape,
    /** Names what messages refer to (the ONNX file). */
    readonly source: string,
  ) {
    for (const name of ['input_ids', 'attention_mask', 'logits']) {
      if (!session.inputNames.includes(name) && !session.outputNames.includes(name)) {
        throw new Error(`${source}: the graph has no ${name === 'logits' ? 'output' : 'input'} named ${name} (inputs: ${session.inputNames.join(', ')})`);
      }
    }
  }

  private feeds(ids: readonly number[], past: number, cache: Record<string, OrtTensorLike> | null): Record<string, OrtTensorLike> {
    const T = ids.length;
    const f: Record<string, OrtTensorLike> = {
      input_ids: this.tensors.int64(BigInt64Array.from(ids, BigInt), [1, T]),
      attention_mask: this.tensors.int64(new BigInt64Array(past + T).fill(1n), [1, past + T]),
    };
    if (this.session.inputNames.includes('position_ids')) {
      f.position_ids = this.tensors.int64(BigInt64Array.from({ length: T }, (_, i) => BigInt(past + i)), [1, T]);
    }
    const { layers, kvHeads, headDim } = this.cache;
    for (let l = 0; l < layers; l++) {
      for (const kind of ['key', 'value']) {
        const name = `past_key_values.${l}.${kind}`;
        if (!this.session.inputNames.includes(name)) throw new Error(`${this.source}: the graph has no input ${name}: not a KV-cache decoder for ${layers} layers`);
        f[name] = cache?.[`present.${l}.${kind}`] ?? this.tensors.float32(new Float32Array(0), [1, kvHeads, 0, headDim]);
      }
    }
    return f;
  }

  /** Logits [T, V] for the whole sequence in one forward (no cache). */
  async logits(ids: readonly number[]): Promise<{ data: Float32Array; vocab: number }> {
    const out = await this.session.run(this.feeds(ids, 0, null));
    const logits = out.logits;
    for (const [name, t] of Object.entries(out)) if (name !== 'logits') t.dispose?.();
    const vocab = logits.dims[logits.dims.length - 1];
    return { data: logits.data as Float32Array, vocab };
  }

  /** Greedy decoding with the KV cache until `maxNew` tokens or one of `stop`. */
  async greedy(prompt: readonly number[], maxNew: number, stop: readonly number[] = []): Promise<GreedyResult> {
    const ids: number[] = [];
    let cache: Record<string, OrtTensorLike> | null = null;
    let past = 0;
    let input: readonly number[] = prompt;
    let prefillSeconds = 0, decodeSeconds = 0;
    while (ids.length < maxNew) {
      const t0 = now();
      const out: Record<string, OrtTensorLike> = await this.session.run(this.feeds(input, past, cache));
      const logits = out.logits;
      const V = logits.dims[logits.dims.length - 1];
      const data = logits.data as Float32Array;
      const last = (input.length - 1) * V;
      let best = 0;
      for (let v = 1; v < V; v++) if (data[last + v] > data[last + best]) best = v;
      if (past === 0) prefillSeconds += now() - t0;
      else decodeSeconds += now() - t0;
      if (cache) for (const t of Object.values(cache)) t.dispose?.();
      logits.dispose?.();
      cache = Object.fromEntries(Object.entries(out).filter(([name]) => name.startsWith('present.')));
      past += input.length;
      ids.push(best);
      if (stop.includes(best)) break;
      input = [best];
    }
    if (cache) for (const t of Object.values(cache)) t.dispose?.();
    return { ids, prefillSeconds, decodeSeconds };
  }
}

import source from './sample.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';

const SAMPLE = defineKernel({
  name: 'sample',
  source,
  bindings: [
    { name: 'logits', access: 'read', type: 'f32' },
    { name: 'prev', access: 'read', type: 'i32' },
    { name: 'work', access: 'read_write', type: 'f32' },
    { name: 'out', access: 'read_write', type: 'i32' },
  ],
  params: {
    V: 'u32', n: 'u32', L: 'u32', prevStride: 'u32',
    temperature: 'f32', greedy: 'u32', topK: 'u32', topP: 'f32', penalty: 'f32',
    seed: 'u32', step: 'u32',
  },
});

export interface SampleOptions {
  /** 0: greedy (the argmax, first among equals); otherwise logits are divided by it. */
  temperature: number;
  /** Keep the k largest logits (ties at the k-th kept, as HF); 0 or undefined: off. */
  topK?: number;
  /** Nucleus: keep a token while the probability of the tokens above it is < topP; 1 or undefined: off. */
  topP?: number;
  /** HF's repetition penalty over `prevIds`: logit < 0 → × r, else ÷ r; 1 or undefined: off. */
  repetitionPenalty?: number;
  /** [B, L] i32: ids already in the sequence (prompt and generated); negative entries are padding. */
  prevIds?: Tensor;
  /** The same, from the host, for every row (uploaded here): the simple path for one sequence. */
  history?: ArrayLike<number>;
  /** The draw is a pure function of (seed, step, row): the same arguments give the same tokens. */
  seed?: number;
  step?: number;
  /** Only the first `vocab` columns are candidates: `config.vocab_size` may pad past the tokenizer. */
  vocab?: number;
  out?: Tensor;
}

function u32Option(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`sample: ${name} must be an integer in [0, 2^32), got ${v}`);
  return v;
}

/**
 * Draws one token per row. logits [B, V] or [V] f32, prevIds [B, L] i32 (or history [L] on the host)
 * → ids [B] i32, 4 bytes a row to read back. No sort: top-k and top-p are thresholds found by search
 * passes over the row.
 */
export function sampleTokens(rt: Runtime, logits: Tensor, opts: SampleOptions): Tensor {
  if (logits.dtype !== 'f32') throw new Error(`sample: logits ${logits.describe()} are not f32`);
  if (logits.shape.length !== 1 && logits.shape.length !== 2) throw new Error(`sample: logits ${logits.describe()} should be [V] or [B, V]`);
  const [B, V] = logits.shape.length === 1 ? [1, logits.shape[0]] : [logits.shape[0], logits.shape[1]];
  // Ids travel through the kernel's reductions as f32, exact below 2^24.
  if (V > 2 ** 24) throw new Error(`sample: ${V} logits a row exceed 2^24 for logits ${logits.describe()}`);
  const n = opts.vocab ?? V;
  if (!Number.isInteger(n) || n < 1 || n > V) throw new Error(`sample: vocab ${opts.vocab} is outside [1, ${V}] for logits ${logits.describe()}`);
  const T = opts.temperature;
  if (!Number.isFinite(T) || T < 0) throw new Error(`sample: temperature must be ≥ 0, got ${T}`);
  const topK = u32Option('topK', opts.topK ?? 0);
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`sample: topP must be in (0, 1], got ${topP}`);
  const penalty = opts.repetitionPenalty ?? 1;
  if (!(penalty > 0 && Number.isFinite(penalty))) throw new Error(`sample: repetitionPenalty must be > 0, got ${penalty}`);
  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;
  if (B > max) throw new Error(`sample: ${B} rows exceed ${max} (one workgroup per row)`);

  if (opts.prevIds && opts.history) throw new Error('sample: give prevIds or history, not both');
  let prev = opts.prevIds;
  let L = 0;
  let prevStride = 0;
  let owned: Tensor | null = null; // uploaded or placeholder ids, disposed once encoded
  if (prev) {
    if (prev.dtype !== 'i32') throw new Error(`sample: prevIds ${prev.describe()} are not i32`);
    L = prev.shape.length === 1 && B === 1 ? prev.shape[0] : prev.shape.length === 2 && prev.shape[0] === B ? prev.shape[1] : -1;
    if (L < 0) throw new Error(`sample: prevIds ${prev.describe()} should be [${B}, L] for logits ${logits.describe()}`);
    prevStride = L;
  } else if (opts.history && opts.history.length > 0) {
    L = opts.history.length;
    prev = owned = rt.upload(Int32Array.from(opts.history), [L], 'i32', 'sample.history');
  }
  if (L === 0) prev = owned = rt.empty([1], 'i32', 'sample.no_history');

  const out = opts.out ?? rt.empty([B], 'i32', 'sample.ids');
  if (out.dtype !== 'i32' || out.size !== B) throw new Error(`sample: out ${out.describe()} should be [${B}]:i32`);
  const work = rt.empty([B, V], 'f32', 'sample.work');
  rt.dispatch(
    SAMPLE,
    {},
    {
      V, n, L, prevStride,
      temperature: T === 0 ? 1 : T, greedy: T === 0 ? 1 : 0, topK, topP, penalty: L > 0 ? penalty : 1,
      seed: u32Option('seed', opts.seed ?? 0), step: u32Option('step', opts.step ?? 0),
    },
    [logits, prev as Tensor, work, out],
    [B],
  );
  work.dispose();
  owned?.dispose();
  return out;
}

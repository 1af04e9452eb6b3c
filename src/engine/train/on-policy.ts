/**
 * On-policy and sequence-level distillation (GKD) on the engine — the torch worker's on_policy.py.
 * A seeded draw picks micro-batches (probability `fraction`, GKD's λ); each picked example keeps its
 * prompt (the tokens before its first trained label) and is continued by the student (on-policy) or
 * the teacher (sequence-level KD); the continuation up to and including the first stop id becomes
 * the trained completion. The loss is the stage's own, unchanged.
 */
import type { Example } from '../../core/dataset.ts';
import type { OnPolicy } from '../../core/schema/recipes.ts';
import type { Stage } from '../../core/schema/stage.ts';
import { rng } from '../../core/random.ts';
import type { Decoder } from '../model/decoder.ts';
import { generate } from '../generate.ts';

/** Tokens up to and including the one that predicts the first trained label. */
export function promptLength(ex: Example, where: string): number {
  if (ex.docStarts.length > 1)
    throw new Error(`${where}: onPolicy samples one continuation per row; packed rows hold several documents (set data.packing false in this stage)`);
  const first = ex.labels.findIndex((l) => l >= 0);
  if (first < 0) throw new Error(`${where}: no trained label, so no prompt/completion boundary to sample from`);
  return first + 1;
}

/** The example's prompt + `sample` cut after the first stop id; every continuation token is trained. */
export function withContinuation(ex: Example, sample: readonly number[], stopIds: readonly number[], where: string): Example {
  const n = promptLength(ex, where);
  const stop = sample.findIndex((t) => stopIds.includes(t));
  const cont = stop < 0 ? sample : sample.slice(0, stop + 1);
  if (cont.length === 0) throw new Error(`${where}: empty continuation (sample at least one token)`);
  const T = n + cont.length;
  const ids = new Int32Array(T);
  ids.set(ex.ids.subarray(0, n));
  ids.set(cont, n);
  const lossMask = new Uint8Array(T).fill(1, n);
  const labels = new Int32Array(T).fill(-1);
  for (let t = n - 1; t < T - 1; t++) labels[t] = ids[t + 1];
  return { ids, lossMask, labels, docStarts: [0], lines: ex.lines.slice(0, 1) };
}

export class OnPolicySampler {
  constructor(
    readonly cfg: OnPolicy,
    readonly seed: number,
    readonly stopIds: readonly number[],
    readonly maxLen: number,
    readonly vocab: number,
  ) {}

  /** Whether micro-batch `micro` of optimizer step `step` is sampled: depends on (seed, step, micro) only. */
  chosen(step: number, micro: number): boolean {
    return rng((this.seed * 1_000_003 + step * 4099 + micro) >>> 0)() < this.cfg.fraction;
  }

  /** Continues every example's prompt with `model` (one sequence at a time, KV cache). */
  async sample(model: Decoder, examples: readonly Example[], step: number, micro: number): Promise<Example[]> {
    const out: Example[] = [];
    for (const [i, ex] of examples.entries()) {
      const where = `on-policy row ${i} (line ${ex.lines[0] ?? '?'})`;
      const n = promptLength(ex, where);
      const room = Math.max(1, Math.min(this.cfg.maxNewTokens, this.maxLen - n));
      const sample: number[] = [];
      const opts = {
        temperature: this.cfg.temperature, topK: 0, topP: 1, repetitionPenalty: 1, maxNewTokens: room,
        seed: (this.seed * 7919 + step * 31 + micro * 131 + i) >>> 0, stopIds: this.stopIds, vocab: this.vocab,
      };
      for await (const id of generate(model, ex.ids.slice(0, n), opts)) sample.push(id);
      out.push(withContinuation(ex, sample, this.stopIds, where));
    }
    return out;
  }
}

/**
 * The engine's trainer runs logit KD (on-policy included) stage by stage with per-stage data, loss,
 * temperature schedule, lr and step count. Feature terms, selective distillation, ULD and the
 * token/eval stop rules run in the torch worker only: a stage asking for them is refused before
 * anything is allocated rather than silently trained without them.
 */
export function assertEngineRecipes(stages: readonly Stage[], haveTeacher: boolean): void {
  const workerOnly = (i: number, stage: Stage, field: string) =>
    new Error(`stages.${i}.${field} (stage "${stage.name}"): runs in the torch worker only; submit this job to a runner`);
  stages.forEach((stage, i) => {
    for (const key of ['hidden', 'attention', 'selection', 'uld'] as const) if (stage.loss[key]) throw workerOnly(i, stage, `loss.${key}`);
    for (const key of ['maxTokens', 'earlyStopPatience'] as const) if (stage.stop[key] !== undefined) throw workerOnly(i, stage, `stop.${key}`);
    if (stage.loss.onPolicy?.source === 'teacher' && !haveTeacher)
      throw new Error(`stages.${i}.loss.onPolicy.source 'teacher' (stage "${stage.name}"): needs the teacher model loaded`);
  });
}

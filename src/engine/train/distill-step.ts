import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import type { Decoder } from '../model/decoder.ts';
import { Tape } from '../tape.ts';
import { BACKWARD } from '../ops.ts';
import { AdamW } from '../optim/adamw.ts';
import { addInPlace } from '../kernels/elementwise.ts';
import { fusedDistillLoss, type Divergence } from '../loss/fused-lm-loss.ts';

/** One micro-batch: B rows of T tokens; labels are next-token targets, −1 where the loss is masked. */
export interface MicroBatch {
  ids: Int32Array;
  labels: Int32Array;
  B: number;
  T: number;
}

export interface LossSettings {
  divergence: Divergence;
  alpha: number;
  temperature: number;
  beta: number;
  lambda: number;
}

export interface StepStats {
  loss: number;
  soft: number;
  hard: number;
  gradNorm: number;
  /** The update was skipped because a gradient was NaN/Inf; the weights are the last good ones. */
  skipped: boolean;
  tokens: number;
}

/**
 * The engine's training step for distillation: student forward on a tape, teacher forward without
 * one, the fused chunked LM-head loss seeding backward, AdamW. Everything for a step is encoded
 * before the single read back of its scalars.
 */
export class DistillStep {
  readonly optimizer: AdamW;
  private sums: { loss: Tensor; soft: Tensor; hard: Tensor } | null = null;
  private tokens = 0;

  constructor(
    readonly rt: Runtime,
    readonly student: Decoder,
    readonly teacher: Decoder | null,
    readonly params: Tensor[],
    readonly logitVocab: number,
    optimizer: { beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number },
    readonly chunkTokens = 64,
  ) {
    for (const p of params) {
      p.requiresGrad = true;
      p.grad ??= rt.zeros(p.shape, 'f32', `${p.name}.grad`);
    }
    this.optimizer = new AdamW(rt, params, optimizer);
  }

  /** Forward + backward of one micro-batch; gradients accumulate. `count` = masked tokens in the whole step. */
  micro(batch: MicroBatch, loss: LossSettings, count: number): void {
    const { rt, student, teacher } = this;
    const N = batch.B * batch.T;
    const tape = new Tape();
    const s = student.forward(batch.ids, batch.B, batch.T, { tape });
    const t = teacher && loss.alpha > 0 ? teacher.forward(batch.ids, batch.B, batch.T) : null;
    const labels = rt.upload(batch.labels, [N], 'i32', 'labels');
    const head = student.head;
    const out = fusedDistillLoss(rt, {
      hS: s.hidden,
      wS: head,
      hT: t?.hidden,
      wT: t ? teacher?.head : undefined, // no teacher forward (α = 0): the loss is plain CE
      labels,
      logitVocab: this.logitVocab,
      divergence: loss.divergence,
      alpha: loss.alpha,
      temperature: loss.temperature,
      beta: loss.beta,
      lambda: loss.lambda,
      count,
      chunkTokens: this.chunkTokens,
      dwS: head.requiresGrad ? head.grad ?? undefined : undefined,
    });
    tape.backward(rt, new Map([[s.hidden, out.dhS]]), BACKWARD);
    tape.dispose();
    out.dhS.dispose();
    t?.hidden.dispose();
    labels.dispose();
    this.accumulate(out.loss, out.soft, out.hard);
    this.tokens += N;
  }

  private accumulate(loss: Tensor, soft: Tensor, hard: Tensor): void {
    if (!this.sums) {
      this.sums = { loss, soft, hard };
      return;
    }
    for (const [acc, x] of [[this.sums.loss, loss], [this.sums.soft, soft], [this.sums.hard, hard]] as const) {
      addInPlace(this.rt, acc, x, 1);
      x.dispose();
    }
  }

  /** Applies the update and reads back this step's scalars (the only read back of the step). */
  async apply(lr: number): Promise<StepStats> {
    this.optimizer.step(lr);
    for (const p of this.params) this.rt.clear(p.grad!);
    const sums = this.sums!;
    this.sums = null;
    const [loss, soft, hard] = await Promise.all([sums.loss, sums.soft, sums.hard].map((t) => this.rt.readScalar(t)));
    for (const t of [sums.loss, sums.soft, sums.hard]) t.dispose();
    const gradNorm = await this.optimizer.gradNorm();
    const skipped = await this.optimizer.lastStepSkipped();
    const tokens = this.tokens;
    this.tokens = 0;
    return { loss, soft, hard, gradNorm, skipped, tokens };
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}

import { tensorNamesFor, type ModelSpec } from './model-spec.ts';

/** What a training job will hold on the GPU, in bytes, by kind. */
export interface MemoryEstimate {
  teacherWeights: number;
  studentWeights: number;
  gradients: number;
  optimizer: number;
  activations: number;
  lossChunk: number;
  total: number;
  /** The largest single buffer (must fit maxStorageBufferBindingSize). */
  largestBuffer: { name: string; bytes: number };
}

export interface TrainShape {
  batch: number;
  seqLen: number;
  /** LoRA rank, or 0 for full fine-tuning. */
  loraRank: number;
  loraModules?: number;
  chunkTokens: number;
  /** Bytes per teacher weight: 4 (f32) or 2 (packed f16/bf16). */
  teacherBytesPerWeight?: number;
}

export interface DeviceBudget {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** What the job may use in all. WebGPU does not report GPU memory: the caller picks (settings, or a default). */
  budgetBytes: number;
}

const elems = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * Estimates a distillation job's GPU memory: weights (teacher packed or f32), student gradients and
 * AdamW moments (or LoRA's), saved activations of the student's tape (about 16 [N, C]-sized and
 * 4 [N, I]-sized tensors per layer plus attention's per-row statistics), and the fused loss's chunk of
 * logits for student and teacher.
 */
export function estimateTrainingMemory(student: ModelSpec, teacher: ModelSpec | null, s: TrainShape): MemoryEstimate {
  const weights = tensorNamesFor(student);
  const studentParams = weights.reduce((n, w) => n + elems(w.shape), 0);
  let largest = { name: '', bytes: 0 };
  for (const w of weights) if (elems(w.shape) * 4 > largest.bytes) largest = { name: w.name, bytes: elems(w.shape) * 4 };
  const teacherParams = teacher ? tensorNamesFor(teacher).reduce((n, w) => n + elems(w.shape), 0) : 0;
  const N = s.batch * s.seqLen;
  const { hidden: C, intermediate: I, layers: L, heads: H } = student;
  const trainable = s.loraRank > 0 ? s.loraRank * (C + C) * L * (s.loraModules ?? 4) : studentParams;
  const activations = 4 * L * (16 * N * C + 4 * N * I + 2 * s.batch * H * s.seqLen) + 4 * N * C * 4;
  const V = Math.max(student.vocabSize, teacher?.vocabSize ?? 0);
  const lossChunk = 4 * Math.min(N, s.chunkTokens) * V * (teacher ? 2 : 1);
  const chunkBuffer = { name: 'loss chunk logits', bytes: 4 * Math.min(N, s.chunkTokens) * V };
  if (chunkBuffer.bytes > largest.bytes) largest = chunkBuffer;
  const e = {
    teacherWeights: teacherParams * (s.teacherBytesPerWeight ?? 4),
    studentWeights: studentParams * 4,
    gradients: trainable * 4,
    optimizer: trainable * 8,
    activations,
    lossChunk,
  };
  return { ...e, total: Object.values(e).reduce((a, b) => a + b, 0), largestBuffer: largest };
}

const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

export class MemoryPreflightError extends Error {}

/**
 * Refuses a job that cannot fit, before anything is allocated, with the numbers and what to change
 * (a smaller batch, LoRA or a smaller rank, a packed teacher, a smaller loss chunk).
 */
export function preflight(student: ModelSpec, teacher: ModelSpec | null, s: TrainShape, budget: DeviceBudget): MemoryEstimate {
  const est = estimateTrainingMemory(student, teacher, s);
  const limit = Math.min(budget.maxBufferSize, budget.maxStorageBufferBindingSize);
  if (est.largestBuffer.bytes > limit) {
    throw new MemoryPreflightError(
      `${est.largestBuffer.name} needs one ${MiB(est.largestBuffer.bytes)} buffer but this adapter binds at most ${MiB(limit)}` +
        (est.largestBuffer.name === 'loss chunk logits' ? `; lower chunkTokens to ${Math.max(1, Math.floor(limit / (4 * Math.max(student.vocabSize, 1))))}` : '; this model is too large for this GPU in f32'),
    );
  }
  if (est.total > budget.budgetBytes) {
    const fixed = est.teacherWeights + est.studentWeights + est.gradients + est.optimizer + est.lossChunk;
    const perSeq = est.activations / s.batch;
    const batchFit = Math.floor((budget.budgetBytes - fixed) / perSeq);
    const hints: string[] = [];
    if (batchFit >= 1 && batchFit < s.batch) hints.push(`batch size ${batchFit} (with gradient accumulation ${Math.ceil(s.batch / batchFit)} for the same effective batch)`);
    if (s.loraRank === 0) hints.push('LoRA (e.g. rank 8) instead of full fine-tuning');
    else if (s.loraRank > 4) hints.push(`a smaller LoRA rank (e.g. ${Math.max(1, s.loraRank >> 1)})`);
    if (teacher && (s.teacherBytesPerWeight ?? 4) === 4) hints.push('a packed f16/bf16 teacher (halves its weights)');
    throw new MemoryPreflightError(
      `this job needs about ${MiB(est.total)} of GPU memory but ${MiB(budget.budgetBytes)} is available ` +
        `(teacher ${MiB(est.teacherWeights)}, student ${MiB(est.studentWeights)}, gradients ${MiB(est.gradients)}, ` +
        `AdamW ${MiB(est.optimizer)}, activations ${MiB(est.activations)}, loss chunk ${MiB(est.lossChunk)}). Try: ${hints.join('; ') || 'a smaller model'}.`,
    );
  }
  return est;
}

/**
 * TelemetryEvent: the one event stream both modes emit (engine worker, runner, torch worker's JSON lines).
 * New methods add entries to `metrics` rather than new event types, so the schema stays put.
 */
import { z } from 'zod';
import { parseConfig } from './schema/config-error.ts';

/**
 * Conventional metric names in `step` and `eval` events. Emitters may add others; the UI plots
 * any number it gets and labels these. Loss parts follow DESIGN.md: loss = α·soft + (1 − α)·hard.
 */
export const METRICS = {
  soft: 'soft loss: mean T²·D(p_t ‖ p_s) over completion tokens (before α)',
  hard: 'hard loss: mean cross-entropy on the labels at T = 1 (before 1 − α)',
  kl: 'KL(p_t ‖ p_s) at T = 1, mean over completion tokens',
  hidden: 'hidden-state loss (before its weight)',
  attention: 'attention-map loss (before its weight)',
  temperature: 'distillation temperature at this step',
  lr: 'learning rate at this step (per step)',
  grad_norm: 'global gradient L2 norm before clipping',
  tokens_per_s: 'training throughput (tokens/s)',
  tokens: 'training tokens seen so far in this job (tokens)',
  reward: 'mean reward of sampled outputs (answer correctness, 0–1; RL stages: taskWeight·correct + similarityWeight·similarity)',
  reward_task: 'RL: share of sampled answers that are correct (0–1)',
  reward_sim: "RL: mean similarity of sampled answers to the teacher's (token F1 or BLEU, 0–1)",
  kl_teacher: 'RL: KL(π_student ‖ π_teacher) per answer token on the samples, when the penalty is to the frozen student',
  adv_mean: 'RL: mean advantage over answer tokens (before whitening)',
  adv_std: 'RL: standard deviation of the advantages (before whitening)',
  clip_frac: "RL: share of answer tokens where PPO's clipped term was taken (no gradient)",
  policy_loss: 'RL: clipped policy loss (last update of the step)',
  value_loss: 'RL (PPO): clipped value-head loss',
  unlikelihood: 'negative samples: mean −log(1 − p) of their wrong tokens (before its weight)',
  accuracy: 'fraction of evaluation answers judged correct (0–1)',
  eval_loss: 'loss on the evaluation set (same formula as training)',
  step_ms: 'wall time of this optimizer step (ms)',
} as const;
export type MetricName = keyof typeof METRICS;

export const JOB_STATES = ['queued', 'running', 'paused', 'stopped', 'finished', 'failed'] as const;
export const JobStateSchema = z.enum(JOB_STATES).describe('job lifecycle state');
export type JobState = z.infer<typeof JobStateSchema>;

/** States a job never leaves. */
export function isTerminalState(state: JobState): boolean {
  return state === 'stopped' || state === 'finished' || state === 'failed';
}

const step = z.int().min(0).describe('optimizer step (0-based, counted over the whole job)');
const stage = z.int().min(0).describe('index into the spec’s stages');
const metrics = z.record(z.string().min(1), z.number()).describe('named numbers; see METRICS for the usual names');

// Every event carries these, so a client can resume an SSE stream with Last-Event-ID = seq.
const envelope = {
  job: z.string().min(1).describe('job id'),
  seq: z.int().min(0).describe('position in this job’s event stream (monotonic per job)'),
  time: z.number().min(0).describe('wall-clock time (ms since the Unix epoch)'),
};

export const StepEventSchema = z.object({
  ...envelope,
  type: z.literal('step'),
  step,
  stage,
  loss: z.number().describe('total loss of this optimizer step (finite; a NaN/Inf step is an error event)'),
  metrics,
});

export const EvalEventSchema = z.object({ ...envelope, type: z.literal('eval'), step, stage, metrics });

export const SampleEventSchema = z.object({
  ...envelope,
  type: z.literal('sample'),
  step,
  prompt: z.string(),
  output: z.string(),
  source: z.string().min(1).describe("who wrote the output: 'teacher', 'student', 'quantized', …"),
  correct: z.boolean().optional().describe('answer check result, when the prompt has a reference'),
  tokenWeights: z
    .array(z.strictObject({ token: z.string(), weight: z.number() }))
    .optional()
    .describe("selective distillation (source 'selection'): each output token's weight on the soft term — the heatmap behind the selection"),
});

export const CheckpointEventSchema = z.object({
  ...envelope,
  type: z.literal('checkpoint'),
  step,
  path: z.string().min(1).describe('checkpoint folder'),
  bytes: z.int().min(0).optional().describe('size on disk (bytes)'),
});

export const LogEventSchema = z.object({
  ...envelope,
  type: z.literal('log'),
  level: z.enum(['debug', 'info', 'warn', 'error']),
  message: z.string(),
});

export const ErrorEventSchema = z.object({
  ...envelope,
  type: z.literal('error'),
  message: z.string(),
  where: z.string().optional().describe('what failed: file:line, tensor name, step, …'),
  recoverable: z.boolean().describe('false when the job cannot go on'),
});

export const StateEventSchema = z.object({ ...envelope, type: z.literal('state'), state: JobStateSchema });

export const ProgressEventSchema = z.object({
  ...envelope,
  type: z.literal('progress'),
  done: z.number().min(0),
  total: z.number().min(0).describe('0 when unknown'),
  what: z.string().describe("what is counted: 'prompts', 'steps', 'bytes', …"),
});

export const TelemetryEventSchema = z.discriminatedUnion('type', [
  StepEventSchema,
  EvalEventSchema,
  SampleEventSchema,
  CheckpointEventSchema,
  LogEventSchema,
  ErrorEventSchema,
  StateEventSchema,
  ProgressEventSchema,
]);
export type TelemetryEvent = z.infer<typeof TelemetryEventSchema>;
export type TelemetryEventType = TelemetryEvent['type'];
export type TelemetryEventOf<K extends TelemetryEventType> = Extract<TelemetryEvent, { type: K }>;
export type StepEvent = TelemetryEventOf<'step'>;
export type EvalEvent = TelemetryEventOf<'eval'>;
export type SampleEvent = TelemetryEventOf<'sample'>;
export type CheckpointEvent = TelemetryEventOf<'checkpoint'>;
export type LogEvent = TelemetryEventOf<'log'>;
export type ErrorEvent = TelemetryEventOf<'error'>;
export type StateEvent = TelemetryEventOf<'state'>;
export type ProgressEvent = TelemetryEventOf<'progress'>;

type Envelope = 'job' | 'seq' | 'time';
/** An event as an emitter produces it; the job's event log adds job, seq and time. */
export type TelemetryEventBody = TelemetryEvent extends infer E ? (E extends TelemetryEvent ? Omit<E, Envelope> : never) : never;

/** Give an emitted event its place in a job's stream. */
export function stampEvent(body: TelemetryEventBody, job: string, seq: number, time: number): TelemetryEvent {
  return { ...body, job, seq, time } as TelemetryEvent;
}

/** Validate one event from the wire (a torch worker's JSON line, an SSE message); `source` names where it came from. */
export function parseTelemetryEvent(json: unknown, source = 'telemetry event'): TelemetryEvent {
  return parseConfig(TelemetryEventSchema, json, source);
}

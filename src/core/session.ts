/**
 * The seam between the UI and where work runs (DESIGN.md): LocalSession (the engine worker) and
 * RunnerSession (HTTP + SSE) both implement DistillSession. Requests are zod schemas because the
 * runner validates them at its edge; results are plain types our own code produces.
 */
import { z } from 'zod';
import type { JobKind, JobSpec } from './schema/job-spec.ts';
import { ModelRefSchema } from './schema/model-ref.ts';
import type { TelemetryEvent } from './telemetry.ts';

export interface DistillSession {
  info(): Promise<SessionInfo>; // device/adapter, limits, loaded models
  load(req: LoadRequest): Promise<ModelInfo[]>; // teacher + student (+ adapter)
  probe(req: ProbeRequest): Promise<ProbeResult>; // next-token distributions at temperatures T, per-token KL
  generate(req: GenerateRequest): AsyncIterable<TokenEvent>;
  start(spec: JobSpec): Promise<JobId>; // distill / teacher-generate / eval / export
  events(job: JobId, since?: number): AsyncIterable<TelemetryEvent>; // events with seq > since
  control(job: JobId, action: JobAction): Promise<void>;
  checkpoints(job: JobId): Promise<CheckpointInfo[]>;
}

export type JobId = string;
export type JobAction = 'pause' | 'resume' | 'stop';
export const JOB_ACTIONS = ['pause', 'resume', 'stop'] as const satisfies readonly JobAction[];
export type ModelRole = 'teacher' | 'student';

// ── info ────────────────────────────────────────────────────────────────────

export interface SessionInfo {
  mode: 'local' | 'runner';
  /** Human-readable device, e.g. "NVIDIA H100 80GB (CUDA 12.4)" or "SwiftShader (WebGPU, Vulkan)". */
  device: string;
  /** Numeric device limits by name (WebGPU adapter limits, `memoryBytes`, `gpuCount`, …). */
  limits: Record<string, number>;
  /** Capabilities by name: 'shader-f16', 'subgroups', 'cuda', 'bf16', 'multi-gpu', 'openai-teacher', … */
  features: string[];
  /** Job kinds `start` accepts in this mode. */
  jobs: JobKind[];
  models: ModelInfo[];
  /** Code version (package version + git commit when known), as written into run manifests. */
  version: string;
}

export interface ModelInfo {
  role: ModelRole;
  /** Display name: the model folder's last segment or `_name_or_path`. */
  name: string;
  path: string;
  /** config.json `architectures[0]`, e.g. 'Qwen2ForCausalLM'. */
  architecture: string;
  params: number;
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  /** Tokenizer vocabulary (logits are sliced to this); `configVocab` is config.json's padded size. */
  vocab: number;
  configVocab: number;
  /** Weight dtype as loaded: 'f32' | 'f16' | 'bf16' | 'q8' | 'q4'. */
  dtype: string;
  /** PEFT adapter folder applied on top, if any. */
  adapter?: string;
}

// ── load ────────────────────────────────────────────────────────────────────

export const LoadRequestSchema = z
  .strictObject({
    teacher: ModelRefSchema.optional().describe('teacher to load (absent = keep the current one)'),
    student: ModelRefSchema.optional().describe('student to load (absent = keep the current one)'),
    adapter: z.string().min(1).optional().describe('PEFT adapter folder applied to the student'),
  })
  .refine((r) => r.teacher || r.student || r.adapter, { message: 'names no teacher, student or adapter' });
export type LoadRequest = z.infer<typeof LoadRequestSchema>;

// ── probe ───────────────────────────────────────────────────────────────────

/** Either text (tokenized by the teacher/student tokenizer, optionally through the chat template) or ids. */
export const ProbeRequestSchema = z
  .strictObject({
    text: z.string().optional().describe('text to tokenize'),
    ids: z.array(z.int().min(0)).min(1).optional().describe('token ids'),
    chatTemplate: z.boolean().default(false).describe('wrap text as one user message with the chat template'),
    positions: z
      .array(z.int())
      .optional()
      .describe('token positions whose next-token distribution to report (negative counts from the end; absent = last)'),
    temperatures: z.array(z.number().gt(0).max(100)).min(1).max(16).default([1]).describe('temperatures to report'),
    topK: z.int().min(1).max(100).default(10).describe('entries per top-k list'),
  })
  .refine((r) => (r.text === undefined) !== (r.ids === undefined), { message: 'give exactly one of text or ids' });
export type ProbeRequest = z.input<typeof ProbeRequestSchema>;
export type ResolvedProbeRequest = z.output<typeof ProbeRequestSchema>;

export interface TopKEntry {
  id: number;
  token: string;
  logprob: number; // log p at this temperature
}

/** One model's next-token distribution at one temperature. */
export interface ProbeDistribution {
  top: TopKEntry[]; // topK entries, most likely first
  tailMass: number; // 1 − Σ top probabilities
  entropy: number; // nats
}

export interface ProbePosition {
  /** Index into `ids` of the last token of the prefix; the distribution predicts ids[position + 1]. */
  position: number;
  /** The actual next token, when the sequence has one. */
  next?: { id: number; token: string };
  teacher: ProbeDistribution[]; // [temperatures]
  student: ProbeDistribution[]; // [temperatures]
  kl: number[]; // [temperatures] KL(p_t^T ‖ p_s^T), nats
}

export interface ProbeResult {
  ids: number[]; // [S]
  tokens: string[]; // [S] each id decoded on its own
  temperatures: number[];
  positions: ProbePosition[];
  /**
   * Teacher-forced sequence at T = 1 for the divergence heatmap: entry i scores the prediction of
   * ids[i + 1] from ids[0..i]. kl = KL(p_t ‖ p_s); ce = −log p_s(ids[i + 1]).
   */
  perToken: { kl: number[]; ce: number[] }; // [S − 1] each
}

// ── generate ────────────────────────────────────────────────────────────────

export const SamplingParamsSchema = z.strictObject({
  temperature: z.number().min(0).max(10).default(0.6).describe('sampling temperature (0 = greedy)'),
  topP: z.number().gt(0).max(1).default(0.95).describe('nucleus sampling mass (1 = off)'),
  topK: z.int().min(0).max(100_000).default(0).describe('sample from the k most likely tokens (0 = off)'),
  repetitionPenalty: z.number().gt(0).max(10).default(1).describe('divide logits of seen tokens (1 = off)'),
  maxNewTokens: z.int().min(1).max(131072).default(512).describe('max generated tokens (tokens)'),
  seed: z.int().min(0).max(2 ** 32 - 1).optional().describe('random seed (absent = random)'),
  stop: z.array(z.string().min(1)).max(16).default([]).describe('stop strings (not included in the output)'),
});
export type SamplingParams = z.infer<typeof SamplingParamsSchema>;

export const GenerateRequestSchema = z
  .strictObject({
    model: z.string().min(1).describe("'teacher', 'student', or a model/export folder"),
    prompt: z.string().optional().describe('prompt text'),
    ids: z.array(z.int().min(0)).min(1).optional().describe('prompt token ids'),
    chatTemplate: z.boolean().default(true).describe('wrap the prompt as one user message with the chat template'),
    sampling: SamplingParamsSchema.prefault({}),
  })
  .refine((r) => (r.prompt === undefined) !== (r.ids === undefined), { message: 'give exactly one of prompt or ids' });
export type GenerateRequest = z.input<typeof GenerateRequestSchema>;
export type ResolvedGenerateRequest = z.output<typeof GenerateRequestSchema>;

export interface GenerateStats {
  promptTokens: number;
  newTokens: number;
  tokensPerS: number; // decode throughput (tokens/s)
  finishReason: 'eos' | 'stop' | 'length' | 'cancelled';
}

/**
 * One generated token. The last event has `done: true` and carries `stats`; when generation ends
 * without a new token (a stop string completed, or cancellation) that event has id −1 and text ''.
 */
export interface TokenEvent {
  id: number;
  text: string; // text this token adds to the output
  done: boolean;
  stats?: GenerateStats;
}

/** Drain a token stream into its text and final stats. */
export async function collectGeneration(events: AsyncIterable<TokenEvent>): Promise<{ text: string; ids: number[]; stats?: GenerateStats }> {
  let text = '';
  const ids: number[] = [];
  let stats: GenerateStats | undefined;
  for await (const e of events) {
    text += e.text;
    if (e.id >= 0) ids.push(e.id);
    if (e.done) stats = e.stats;
  }
  return { text, ids, stats };
}

// ── checkpoints ─────────────────────────────────────────────────────────────

export interface CheckpointInfo {
  step: number;
  path: string; // WORKSPACE/jobs/<id>/checkpoints/step-N/ on the runner
  bytes: number;
  time: number; // ms since the Unix epoch
  stage?: number;
}

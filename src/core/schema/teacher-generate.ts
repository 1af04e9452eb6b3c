import { z } from 'zod';
import { SchemaRefField, SeedSchema } from './common.ts';
import { CurriculumSchema } from './data.ts';
import { WeightDtypeSchema } from './model-ref.ts';

export const TeacherSourceSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        kind: z.literal('local').describe('a model folder run by this runner or tab'),
        path: z.string().min(1).describe('teacher model folder in Hugging Face layout'),
        dtype: WeightDtypeSchema.optional(),
      })
      .describe('local teacher'),
    z
      .strictObject({
        kind: z.literal('openai').describe('any OpenAI-compatible endpoint (vLLM, SGLang, hosted APIs)'),
        baseUrl: z.url().describe('API base URL, e.g. http://localhost:8000/v1'),
        apiKey: z.string().optional().describe('bearer token for the endpoint (absent = none)'),
        model: z.string().min(1).describe('model name the endpoint serves'),
        concurrency: z.int().min(1).max(1024).default(8).describe('requests in flight (requests)'),
        retries: z.int().min(0).max(100).default(3).describe('retries per failed request, with backoff'),
      })
      .describe('OpenAI-compatible teacher'),
  ])
  .describe('where the teacher runs');
export type TeacherSource = z.infer<typeof TeacherSourceSchema>;

export const TeacherSamplingSchema = z
  .strictObject({
    temperature: z.number().min(0).max(10).default(0.6).describe('sampling temperature (0 = greedy)'),
    topP: z.number().gt(0).max(1).default(0.95).describe('nucleus sampling mass (1 = off)'),
    topK: z.int().min(0).max(100_000).default(0).describe('sample from the k most likely tokens (0 = off)'),
    maxNewTokens: z.int().min(1).max(131072).default(4096).describe('max generated tokens per sample (tokens)'),
    samplesPerPrompt: z.int().min(1).max(1024).default(1).describe('samples drawn per prompt'),
    seed: SeedSchema.default(0),
  })
  .describe('teacher sampling');
export type TeacherSampling = z.infer<typeof TeacherSamplingSchema>;

export const TraceFiltersSchema = z
  .strictObject({
    answerCheck: z
      .boolean()
      .default(false)
      .describe("keep only samples whose \\boxed{} answer matches the prompt's reference answer"),
    minLength: z.int().min(0).max(1_000_000).default(0).describe('drop samples shorter than this (tokens)'),
    maxLength: z.int().min(1).max(1_000_000).optional().describe('drop samples longer than this (tokens; absent = no limit)'),
    requireThink: z.boolean().default(false).describe('keep only samples with a closed <think>…</think> section'),
    dedup: z
      .enum(['exact', 'near', 'none'])
      .default('exact')
      .describe("drop duplicate samples of a prompt: 'exact' text, 'near' by similarity, or 'none'"),
    nearDupThreshold: z
      .number()
      .gt(0)
      .max(1)
      .default(0.9)
      .describe("similarity (Jaccard of word 5-grams, 0–1) at or above which 'near' dedup drops a sample"),
  })
  .refine((f) => f.maxLength === undefined || f.maxLength >= f.minLength, {
    path: ['maxLength'],
    message: 'must be ≥ minLength',
  })
  .describe('reward and quality filters');
export type TraceFilters = z.infer<typeof TraceFiltersSchema>;

/** Generate reasoning traces from a teacher, filter them, write a training JSONL. */
export const TeacherGenerateSpecSchema = z
  .strictObject({
    $schema: SchemaRefField,
    kind: z.literal('teacher-generate').describe('job kind'),
    source: TeacherSourceSchema,
    prompts: z.string().min(1).describe('JSONL prompts dataset (optionally with reference answers)'),
    sampling: TeacherSamplingSchema.prefault({}),
    logprobs: z
      .strictObject({
        topK: z.int().min(1).max(1024).default(20).describe('top-k log-probs kept per generated token'),
      })
      .optional()
      .describe('record sparse teacher targets for offline logit distillation (absent = text only)'),
    filters: TraceFiltersSchema.prefault({}),
    curriculum: CurriculumSchema.default('none'),
    output: z.string().min(1).describe('JSONL file the kept traces are written to'),
  })
  .describe('teacher-generation job');
export type TeacherGenerateSpec = z.infer<typeof TeacherGenerateSpecSchema>;

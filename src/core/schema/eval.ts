import { z } from 'zod';
import { SchemaRefField, SeedSchema } from './common.ts';
import { ModelRefSchema } from './model-ref.ts';

export const EvalSamplingSchema = z
  .strictObject({
    temperature: z.number().min(0).max(10).default(0).describe('sampling temperature (0 = greedy)'),
    topP: z.number().gt(0).max(1).default(1).describe('nucleus sampling mass (1 = off)'),
    maxNewTokens: z.int().min(1).max(131072).default(4096).describe('max generated tokens per answer (tokens)'),
    n: z.int().min(1).max(1024).default(1).describe('samples per problem; accuracy is pass@1 averaged over n'),
    seed: SeedSchema.default(0),
  })
  .describe('evaluation sampling');
export type EvalSampling = z.infer<typeof EvalSamplingSchema>;

/** Answer accuracy of a model on a JSONL set with reference answers. */
export const EvalSpecSchema = z
  .strictObject({
    $schema: SchemaRefField,
    kind: z.literal('eval').describe('job kind'),
    model: ModelRefSchema.describe('model to evaluate'),
    dataset: z.string().min(1).describe('JSONL problems with reference answers'),
    limit: z.int().min(1).max(100_000_000).optional().describe('evaluate only the first N problems (absent = all)'),
    sampling: EvalSamplingSchema.prefault({}),
  })
  .describe('evaluation job');
export type EvalSpec = z.infer<typeof EvalSpecSchema>;

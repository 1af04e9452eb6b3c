import { z } from 'zod';

export const CurriculumSchema = z
  .enum(['none', 'by-difficulty', 'by-length'])
  .describe("example order: 'none' (shuffled), easy→hard by teacher difficulty, or short→long");
export type Curriculum = z.infer<typeof CurriculumSchema>;

/**
 * Negative samples: records flagged `"negative": true` are wrong traces (e.g. `retort demo-augment
 * --negatives P`). They skip the distillation loss; each is paired with the correct record of the same
 * prompt, and the first token where it goes wrong is trained down by unlikelihood, −log(1 − p).
 */
export const NegativesSchema = z
  .strictObject({
    weight: z
      .number()
      .min(0)
      .max(1000)
      .default(0.5)
      .describe('weight of the unlikelihood term: loss += weight · mean −log(1 − p(wrong token)); too high and the student avoids the right digit too'),
    batch: z.int().min(1).max(4096).default(8).describe('negative samples per step (cycled through in a fixed order)'),
  })
  .describe('wrong-answer traces trained by unlikelihood (torch worker)');
export type Negatives = z.infer<typeof NegativesSchema>;

/** One JSONL training set and how it becomes token sequences. */
export const DataConfigSchema = z
  .strictObject({
    path: z.string().min(1).describe('JSONL dataset file'),
    format: z
      .enum(['auto', 'chat', 'prompt-completion', 'text'])
      .default('auto')
      .describe("record shape: {messages}, {prompt, completion}, {text}, or 'auto' (detected per file)"),
    chatTemplate: z
      .boolean()
      .default(true)
      .describe("apply the tokenizer's chat template to chat and prompt-completion records"),
    maxSeqLen: z.int().min(8).max(131072).default(2048).describe('max sequence length (tokens)'),
    truncation: z
      .enum(['left', 'right', 'error'])
      .default('right')
      .describe("what to do with longer sequences: drop tokens at the 'left' or 'right', or 'error'"),
    packing: z
      .boolean()
      .default(false)
      .describe('pack several short sequences into one row of maxSeqLen tokens (less padding)'),
    teacherTopK: z
      .strictObject({
        k: z.int().min(1).max(1024).default(20).describe('teacher top-k log-probs cached per completion token'),
      })
      .optional()
      .describe('the JSONL carries cached sparse teacher targets {ids, logprobs} per completion token'),
    curriculum: CurriculumSchema.default('none'),
    negatives: NegativesSchema.optional(),
  })
  .superRefine((data, ctx) => {
    if (data.negatives && data.packing)
      ctx.addIssue({ code: 'custom', path: ['negatives'], message: 'a negative row is paired with its correct row by prompt: set packing false' });
  })
  .describe('training data');
export type DataConfig = z.infer<typeof DataConfigSchema>;

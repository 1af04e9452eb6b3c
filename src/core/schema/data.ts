import { z } from 'zod';

export const CurriculumSchema = z
  .enum(['none', 'by-difficulty', 'by-length'])
  .describe("example order: 'none' (shuffled), easy→hard by teacher difficulty, or short→long");
export type Curriculum = z.infer<typeof CurriculumSchema>;

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
  })
  .describe('training data');
export type DataConfig = z.infer<typeof DataConfigSchema>;

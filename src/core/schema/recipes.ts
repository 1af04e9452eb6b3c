/**
 * Loss-side knobs of the advanced recipes (issue 8, part B): on-policy / sequence-level KD, selective
 * distillation and cross-tokenizer ULD. They live in a stage's `loss` so one stage = one recipe.
 */
import { z } from 'zod';

/**
 * GKD (Agarwal et al. 2024): with probability `fraction` a micro-batch's completions are replaced by
 * continuations sampled from its prompts, then scored by the teacher with the stage's divergence.
 */
export const OnPolicySchema = z
  .strictObject({
    fraction: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe('GKD λ: share of micro-batches trained on sampled continuations (0 = all from the data, 1 = all sampled)'),
    source: z
      .enum(['student', 'teacher'])
      .default('student')
      .describe(
        "who writes the continuations: 'student' = on-policy GKD (the teacher scores the student's own mistakes); " +
          "'teacher' = sequence-level KD (learn the teacher's samples, SFT when alpha is 0)",
      ),
    temperature: z
      .number()
      .min(0)
      .max(10)
      .default(1)
      .describe('sampling temperature of the continuations (0 = greedy; GKD samples at 1)'),
    maxNewTokens: z.int().min(1).max(4096).default(128).describe('longest sampled continuation (tokens)'),
  })
  .describe('on-policy / sequence-level distillation (GKD)');
export type OnPolicy = z.infer<typeof OnPolicySchema>;

/**
 * Selective distillation: per-token weights on the soft term from a teacher signal. Weights are
 * normalised to mean 1 over each sequence's counted tokens, so α keeps its meaning.
 */
export const TokenSelectionSchema = z
  .strictObject({
    by: z
      .enum(['teacher-entropy', 'teacher-attention'])
      .describe(
        "score per completion token: entropy of the teacher's distribution (where it hesitates), or the attention " +
          "the token receives in the teacher's last layer (what the teacher reads most)",
      ),
    mode: z
      .enum(['top', 'soft'])
      .default('top')
      .describe("'top' = distil only the top `topFraction` of tokens by score; 'soft' = weights proportional to the score"),
    topFraction: z
      .number()
      .gt(0)
      .max(1)
      .default(0.5)
      .describe("share of each sequence's completion tokens kept by 'top' (0.5 = the upper half)"),
  })
  .describe('selective distillation: which tokens the soft term looks at');
export type TokenSelection = z.infer<typeof TokenSelectionSchema>;

/**
 * ULD (Boizard et al. 2024): teacher and student distributions compared after sorting their
 * probabilities, so the two vocabularies need not match; answer tokens are paired by position.
 */
export const UldSchema = z
  .strictObject({
    weight: z.number().min(0).max(1000).default(1).describe('weight λ of the ULD term: loss = CE + λ·ULD'),
  })
  .describe('universal logit distillation (teachers with another tokenizer)');
export type Uld = z.infer<typeof UldSchema>;

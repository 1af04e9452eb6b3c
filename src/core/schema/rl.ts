/**
 * An RL stage (issue 8; seed 000's reinforced distillation, stage 3 of seed 003): instead of a
 * supervised loss, the student answers the stage's prompts, each answer is rewarded
 * `taskWeight · correct + similarityWeight · similarity to the teacher's answer`, a per-token KL to
 * the teacher (or the frozen student) keeps it close, and PPO or GRPO updates it. Runs in the torch
 * worker (src/runner/torch/retort_torch/rl/); metrics (reward, kl, adv_mean, clip_frac, value_loss…)
 * arrive in the ordinary step events.
 */
import { z } from 'zod';

export const RlConfigSchema = z
  .strictObject({
    algorithm: z
      .enum(['ppo', 'grpo'])
      .default('ppo')
      .describe(
        "'ppo' = GAE advantages from a learned value head, KL as a per-token reward penalty; " +
          "'grpo' = advantage relative to the other samples of the same prompt (no value head), KL as a loss term",
      ),
    taskWeight: z.number().min(0).max(100).default(0.3).describe('weight of the task reward: 1 when the boxed answer is correct'),
    similarityWeight: z
      .number()
      .min(0)
      .max(100)
      .default(0.7)
      .describe("weight of the similarity of the student's answer to the teacher's (seed 000: 0.7 · BLEU + 0.3 · task)"),
    similarity: z
      .enum(['token-f1', 'bleu'])
      .default('token-f1')
      .describe("similarity on token ids: 'token-f1' (bag of tokens, order-blind) or 'bleu' (n-grams up to 4, order-aware, brevity penalty)"),
    reference: z
      .enum(['data', 'teacher'])
      .default('data')
      .describe("the teacher's answer: the data's completion (teacher traces), or the teacher's greedy answer generated on the fly"),
    klCoef: z.number().min(0).max(100).default(0.05).describe('β: weight of the per-token KL penalty'),
    klTarget: z
      .enum(['teacher', 'reference'])
      .default('teacher')
      .describe("the KL is to the teacher (same tokenizer needed), or to the student frozen as this stage begins"),
    groupSize: z.int().min(1).max(1024).default(4).describe('answers sampled per prompt (GRPO: the group its baseline is taken over, ≥ 2)'),
    epochs: z.int().min(1).max(100).default(2).describe('optimizer updates on each batch of rollouts'),
    clip: z.number().gt(0).max(10).default(0.2).describe('ε: how far one update may move the probability ratio (and the value) from the rollout'),
    gamma: z.number().min(0).max(1).default(1).describe('γ: discount per token (PPO)'),
    gaeLambda: z.number().min(0).max(1).default(0.95).describe('GAE λ: 1 = Monte-Carlo returns (unbiased, noisy), 0 = one-step TD (PPO)'),
    valueCoef: z.number().min(0).max(100).default(0.5).describe('weight of the value-head loss (PPO)'),
    temperature: z.number().gt(0).max(10).default(1).describe('sampling temperature of the rollouts'),
    maxNewTokens: z.int().min(1).max(32768).default(96).describe('longest sampled answer (tokens)'),
  })
  .superRefine((rl, ctx) => {
    if (rl.taskWeight + rl.similarityWeight === 0)
      ctx.addIssue({ code: 'custom', path: ['similarityWeight'], message: 'taskWeight and similarityWeight are both 0: the reward would be 0 for every answer' });
    if (rl.algorithm === 'grpo' && rl.groupSize < 2)
      ctx.addIssue({ code: 'custom', path: ['groupSize'], message: 'GRPO compares samples of one prompt: needs at least 2' });
  })
  .describe('RL stage: rollouts rewarded against the teacher, PPO or GRPO (runner only)');
export type RlConfig = z.infer<typeof RlConfigSchema>;

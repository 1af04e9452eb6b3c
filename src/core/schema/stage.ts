import { z } from 'zod';
import { DataConfigSchema } from './data.ts';
import { LossConfigSchema } from './loss.ts';
import { RlConfigSchema } from './rl.ts';

/** When a stage ends: after `steps` optimizer steps, or earlier by token budget or early stopping. */
export const StopRuleSchema = z
  .strictObject({
    steps: z.int().min(1).max(100_000_000).describe('optimizer steps in this stage'),
    maxTokens: z.int().min(1).max(1e13).optional().describe('stop after this many training tokens (tokens)'),
    earlyStopPatience: z
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe('stop after this many evaluations without improvement (evaluations)'),
    metric: z.enum(['eval_loss']).default('eval_loss').describe('metric watched for early stopping (lower is better)'),
  })
  .describe('stop rule');
export type StopRule = z.infer<typeof StopRuleSchema>;

export const StageSchema = z
  .strictObject({
    name: z.string().min(1).max(64).default('main').describe('stage name, unique within the run'),
    data: DataConfigSchema,
    loss: LossConfigSchema.prefault({}),
    stop: StopRuleSchema,
    lr: z.number().gt(0).max(1).optional().describe('learning rate override for this stage (per step)'),
    rl: RlConfigSchema.optional().describe(
      "RL stage: rollouts on the data's prompts rewarded against the teacher, PPO/GRPO updates; `loss` is not used; a step = one rollout batch",
    ),
  })
  .superRefine((stage, ctx) => {
    if (stage.loss.teacherTargets === 'offline-topk' && !stage.data.teacherTopK)
      ctx.addIssue({
        code: 'custom',
        path: ['data', 'teacherTopK'],
        message: "required when loss.teacherTargets is 'offline-topk' (the data must carry cached top-k)",
      });
  })
  .describe('training stage');
export type Stage = z.infer<typeof StageSchema>;

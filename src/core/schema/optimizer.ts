import { z } from 'zod';

/** Learning-rate schedule: linear warm-up, then constant, linear or cosine decay to minLrRatio · lr. */
export const LrScheduleSchema = z
  .strictObject({
    kind: z
      .enum(['constant', 'linear', 'cosine'])
      .default('cosine')
      .describe('decay after warm-up: constant, linear or cosine down to minLrRatio · lr'),
    warmupSteps: z.int().min(0).max(10_000_000).default(0).describe('linear warm-up from 0 (steps)'),
    minLrRatio: z.number().min(0).max(1).default(0.1).describe('final learning rate as a fraction of lr'),
  })
  .describe('learning-rate schedule');
export type LrSchedule = z.infer<typeof LrScheduleSchema>;

export const OptimizerSchema = z
  .strictObject({
    lr: z.number().gt(0).max(1).default(2e-5).describe('peak learning rate (per step)'),
    betas: z
      .tuple([z.number().min(0).lt(1).describe('β1'), z.number().min(0).lt(1).describe('β2')])
      .default([0.9, 0.999])
      .describe('AdamW moment decay rates [β1, β2]'),
    eps: z.number().gt(0).max(1).default(1e-8).describe('AdamW denominator epsilon'),
    weightDecay: z.number().min(0).max(1).default(0.01).describe('decoupled weight decay (per step, times lr)'),
    gradClip: z.number().min(0).max(1e6).default(1).describe('max global gradient L2 norm (0 = off)'),
    schedule: LrScheduleSchema.prefault({}),
  })
  .describe('AdamW optimizer');
export type Optimizer = z.infer<typeof OptimizerSchema>;

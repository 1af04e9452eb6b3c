import { z } from 'zod';
import { TemperatureScheduleSchema } from './temperature.ts';
import { OnPolicySchema, TokenSelectionSchema, UldSchema } from './recipes.ts';

export const DivergenceSchema = z
  .enum(['forward-kl', 'reverse-kl', 'gjsd', 'skew-kl', 'skew-reverse-kl', 'tvd', 'none'])
  .describe("divergence D(p_t ‖ p_s) for the soft term; 'none' = plain cross-entropy (alpha ignored)");
export type Divergence = z.infer<typeof DivergenceSchema>;

/** Pairs [studentLayer, teacherLayer] for feature distillation. */
export const LayerMapSchema = z
  .array(
    z
      .tuple([
        z.int().min(0).max(1023).describe('student layer index'),
        z.int().min(0).max(1023).describe('teacher layer index'),
      ])
      .describe('[studentLayer, teacherLayer]'),
  )
  .min(1)
  .describe('which student layer learns from which teacher layer');
export type LayerMap = z.infer<typeof LayerMapSchema>;

const featureWeight = z.number().min(0).max(1000).default(1).describe('weight of this term in the total loss');

export const HiddenLossSchema = z
  .strictObject({
    weight: featureWeight,
    kind: z
      .enum(['mse', 'cosine'])
      .default('mse')
      .describe("'mse' = mean squared error, 'cosine' = 1 − cos, after a learned projection W h_s + b"),
    layerMap: LayerMapSchema,
  })
  .describe('hidden-state distillation through a learned projection');
export type HiddenLoss = z.infer<typeof HiddenLossSchema>;

export const AttentionLossSchema = z
  .strictObject({
    weight: featureWeight,
    layerMap: LayerMapSchema,
  })
  .describe('attention-map distillation');
export type AttentionLoss = z.infer<typeof AttentionLossSchema>;

/** loss = α · T² · D(p_t^T ‖ p_s^T) + (1 − α) · CE(y, p_s^1) (+ feature terms), over completion tokens. */
export const LossConfigSchema = z
  .strictObject({
    divergence: DivergenceSchema.default('forward-kl'),
    beta: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe('generalized JSD mixing β (gjsd only): 0 = forward KL, 1 = reverse KL'),
    lambda: z
      .number()
      .min(0)
      .max(1)
      .default(0.1)
      .describe('skew λ (skew-kl, skew-reverse-kl): mixture λ·p + (1 − λ)·q, DistiLLM uses 0.1'),
    alpha: z
      .number()
      .min(0)
      .max(1)
      .default(0.5)
      .describe('soft weight α in [0, 1]: α·T²·D + (1 − α)·CE; 0 = pure cross-entropy'),
    temperature: TemperatureScheduleSchema.prefault({ kind: 'constant' }),
    teacherTargets: z
      .enum(['online', 'offline-topk', 'none'])
      .default('online')
      .describe(
        "teacher distribution: 'online' (run the teacher), 'offline-topk' (cached top-k in the data), 'none' (SFT on labels / teacher traces)",
      ),
    hidden: HiddenLossSchema.optional(),
    attention: AttentionLossSchema.optional(),
    onPolicy: OnPolicySchema.optional(),
    selection: TokenSelectionSchema.optional(),
    uld: UldSchema.optional(),
  })
  .superRefine((loss, ctx) => {
    if (loss.uld && loss.divergence !== 'none')
      ctx.addIssue({ code: 'custom', path: ['uld'], message: `replaces the id-by-id divergence: set divergence 'none' (got '${loss.divergence}')` });
    if (loss.onPolicy?.source === 'student' && loss.teacherTargets !== 'online')
      ctx.addIssue({ code: 'custom', path: ['onPolicy'], message: "the teacher must score the student's samples: teacherTargets 'online'" });
    if (loss.teacherTargets !== 'none') return;
    // Without a teacher there is nothing for a divergence or feature term to compare against.
    if (loss.divergence !== 'none')
      ctx.addIssue({
        code: 'custom',
        path: ['divergence'],
        message: `must be 'none' when teacherTargets is 'none' (got '${loss.divergence}')`,
      });
    for (const key of ['hidden', 'attention', 'selection', 'uld'] as const)
      if (loss[key])
        ctx.addIssue({ code: 'custom', path: [key], message: "needs the teacher online (teacherTargets is 'none')" });
  })
  .describe('loss');
export type LossConfig = z.infer<typeof LossConfigSchema>;

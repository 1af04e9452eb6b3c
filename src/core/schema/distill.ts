import { z } from 'zod';
import { LoraConfigSchema, QatConfigSchema } from './adapters.ts';
import { SchemaRefField, SeedSchema } from './common.ts';
import { ModelRefSchema, StudentRefSchema } from './model-ref.ts';
import { OptimizerSchema } from './optimizer.ts';
import { StageSchema } from './stage.ts';

export const BatchConfigSchema = z
  .strictObject({
    microBatch: z.int().min(1).max(4096).default(4).describe('sequences per micro-batch (sequences)'),
    gradAccumulation: z
      .int()
      .min(1)
      .max(4096)
      .default(1)
      .describe('micro-batches summed per optimizer step (effective batch = microBatch × gradAccumulation)'),
  })
  .describe('batching');
export type BatchConfig = z.infer<typeof BatchConfigSchema>;

export const CheckpointConfigSchema = z
  .strictObject({
    everySteps: z.int().min(0).max(100_000_000).default(500).describe('save every N optimizer steps (0 = only at the end)'),
    keepLast: z.int().min(1).max(1000).default(3).describe('checkpoints kept on disk (older ones are deleted)'),
  })
  .describe('checkpointing');
export type CheckpointConfig = z.infer<typeof CheckpointConfigSchema>;

export const EvalConfigSchema = z
  .strictObject({
    everySteps: z.int().min(0).max(100_000_000).default(0).describe('evaluate every N optimizer steps (0 = off)'),
    dataset: z.string().min(1).optional().describe('JSONL evaluation set (absent = held-out slice of the training data)'),
    maxSamples: z.int().min(1).max(1_000_000).default(64).describe('evaluation examples per evaluation (examples)'),
  })
  .describe('periodic evaluation');
export type EvalConfig = z.infer<typeof EvalConfigSchema>;

export const OutputConfigSchema = z
  .strictObject({
    dir: z.string().min(1).optional().describe('output folder (absent = the job folder in the workspace)'),
  })
  .describe('output');
export type OutputConfig = z.infer<typeof OutputConfigSchema>;

/** A distillation run: teacher → student through one or more stages. */
export const DistillConfigSchema = z
  .strictObject({
    $schema: SchemaRefField,
    kind: z.literal('distill').describe('job kind'),
    teacher: ModelRefSchema.describe('teacher model'),
    student: StudentRefSchema.describe('student model'),
    seed: SeedSchema.default(42),
    stages: z.array(StageSchema).min(1).describe('training stages, run in order (one stage = a plain run)'),
    optimizer: OptimizerSchema.prefault({}),
    batch: BatchConfigSchema.prefault({}),
    lora: LoraConfigSchema.optional(),
    qat: QatConfigSchema.optional(),
    checkpoint: CheckpointConfigSchema.prefault({}),
    eval: EvalConfigSchema.prefault({}),
    output: OutputConfigSchema.prefault({}),
    maxBadSteps: z
      .int()
      .min(1)
      .max(1000)
      .default(3)
      .describe('consecutive non-finite (NaN/Inf) steps skipped before the run stops, keeping the last good weights'),
  })
  .superRefine((spec, ctx) => {
    const seen = new Map<string, number>();
    spec.stages.forEach((stage, i) => {
      const first = seen.get(stage.name);
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['stages', i, 'name'],
          message: `duplicate stage name '${stage.name}' (also stages.${first}.name)`,
        });
      else seen.set(stage.name, i);
      if (stage.stop.earlyStopPatience !== undefined && spec.eval.everySteps === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['stages', i, 'stop', 'earlyStopPatience'],
          message: 'needs periodic evaluation (eval.everySteps > 0)',
        });
    });
  })
  .describe('distillation job');
export type DistillConfig = z.infer<typeof DistillConfigSchema>;

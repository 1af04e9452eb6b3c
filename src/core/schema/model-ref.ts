import { z } from 'zod';

/** Storage dtype to load weights in; absent = as stored in the safetensors files. */
export const WeightDtypeSchema = z
  .enum(['f32', 'f16', 'bf16'])
  .describe('weight dtype to load in (absent = as stored)');
export type WeightDtype = z.infer<typeof WeightDtypeSchema>;

const path = z.string().min(1).describe('model folder in Hugging Face layout (config.json, *.safetensors, tokenizer.json)');

/** A model on disk in Hugging Face layout. */
export const ModelRefSchema = z
  .strictObject({
    path,
    dtype: WeightDtypeSchema.optional(),
  })
  .describe('model reference');
export type ModelRef = z.infer<typeof ModelRefSchema>;

/**
 * How the student's weights start: its own checkpoint, random (config.json only), or a
 * layer-pruned copy of the teacher (the listed teacher layers, in order, become student layers 0..n−1).
 */
export const StudentInitSchema = z
  .union([
    z.enum(['pretrained', 'random']),
    z.strictObject({
      fromTeacherLayers: z
        .array(z.int().min(0).max(1023))
        .min(1)
        .describe('teacher layer indices copied into student layers 0..n−1, in order'),
    }),
  ])
  .describe("student initialisation: 'pretrained' weights, 'random', or copied teacher layers");
export type StudentInit = z.infer<typeof StudentInitSchema>;

export const StudentRefSchema = z
  .strictObject({
    path,
    dtype: WeightDtypeSchema.optional(),
    init: StudentInitSchema.default('pretrained'),
  })
  .describe('student model reference');
export type StudentRef = z.infer<typeof StudentRefSchema>;

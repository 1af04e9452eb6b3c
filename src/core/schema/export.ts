import { z } from 'zod';
import { SchemaRefField } from './common.ts';
import { ModelRefSchema } from './model-ref.ts';

export const ExportDtypeSchema = z
  .enum(['fp32', 'fp16', 'q8', 'q4'])
  .describe('ONNX weight format: fp32, fp16, int8 (q8) or int4 (q4)');
export type ExportDtype = z.infer<typeof ExportDtypeSchema>;

/** Export a model to ONNX in the transformers.js layout. */
export const ExportSpecSchema = z
  .strictObject({
    $schema: SchemaRefField,
    kind: z.literal('export').describe('job kind'),
    model: ModelRefSchema.describe('model to export'),
    dtype: ExportDtypeSchema.default('q4'),
    out: z.string().min(1).describe('output folder (gets onnx/model*.onnx beside the tokenizer files)'),
  })
  .describe('export job');
export type ExportSpec = z.infer<typeof ExportSpecSchema>;

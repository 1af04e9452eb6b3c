import { z } from 'zod';

/** LoRA on the listed linear layers; the base weights stay frozen. Saved in PEFT layout. */
export const LoraConfigSchema = z
  .strictObject({
    rank: z.int().min(1).max(1024).default(16).describe('LoRA rank r'),
    alpha: z.number().gt(0).max(4096).default(32).describe('LoRA scale numerator: updates are scaled by alpha / rank'),
    dropout: z.number().min(0).lt(1).default(0.05).describe('dropout on the LoRA input (probability)'),
    targetModules: z
      .array(z.string().min(1))
      .min(1)
      .default(['q_proj', 'k_proj', 'v_proj', 'o_proj'])
      .describe('linear layer names that get adapters (PEFT target_modules)'),
  })
  .describe('LoRA adapters (absent = full fine-tuning)');
export type LoraConfig = z.infer<typeof LoraConfigSchema>;

/** Quantization-aware training: fake-quantize weights in the forward pass, straight-through gradients. */
export const QatConfigSchema = z
  .strictObject({
    bits: z.literal([8, 4]).default(4).describe('weight bits (8 or 4)'),
    groupSize: z.literal([32, 128]).default(128).describe('weights per quantization group (int4 only)'),
    symmetric: z.boolean().default(true).describe('symmetric (no zero point) quantization'),
    perChannel: z.boolean().default(true).describe('one scale per output channel (int8); int4 uses groups'),
  })
  .describe('quantization-aware training (absent = off)');
export type QatConfig = z.infer<typeof QatConfigSchema>;

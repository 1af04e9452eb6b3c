import type { DType } from '../tensor.ts';

/**
 * WGSL loaders for weights stored as f32 or packed two-per-u32 f16/bf16. Packed weights halve memory
 * (a 0.5B teacher fits a laptop GPU) and work without the `shader-f16` feature: unpack2x16float and a
 * shift are enough.
 */
export function weightLoader(fn: string, binding: string, dtype: DType): string {
  switch (dtype) {
    case 'f32':
      return `fn ${fn}(i: u32) -> f32 { return ${binding}[i]; }`;
    case 'f16':
      return `fn ${fn}(i: u32) -> f32 { return unpack2x16float(${binding}[i >> 1u])[i & 1u]; }`;
    case 'bf16':
      return `fn ${fn}(i: u32) -> f32 { let w = ${binding}[i >> 1u]; return bitcast<f32>(select(w << 16u, w & 0xffff0000u, (i & 1u) == 1u)); }`;
    default:
      throw new Error(`weights of dtype ${dtype} are not supported`);
  }
}

export function weightElemType(dtype: DType): 'f32' | 'u32' {
  return dtype === 'f32' ? 'f32' : 'u32';
}

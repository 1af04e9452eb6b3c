import type { DType } from '../tensor.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../core/safetensors.ts';

/** 16-bit values two per u32, low half first (little-endian), as the shaders unpack them. */
export function packHalves(bits: Uint16Array): Uint32Array {
  const out = new Uint32Array(Math.ceil(bits.length / 2));
  new Uint16Array(out.buffer, 0, bits.length).set(bits);
  return out;
}

/** Packs f32 values as f16/bf16 (round to nearest even) and returns the values as the GPU will see them. */
export function f32ToPacked16(values: ArrayLike<number>, dtype: Extract<DType, 'f16' | 'bf16'>): { packed: Uint32Array; rounded: Float32Array } {
  const f32 = Float32Array.from(values);
  const bits = dtype === 'f16' ? f32ToF16(f32) : f32ToBf16(f32);
  return { packed: packHalves(bits), rounded: dtype === 'f16' ? f16ToF32(bits) : bf16ToF32(bits) };
}

import type { DType } from '../tensor.ts';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** f32 → IEEE half bits, round to nearest even (handles subnormals, inf, NaN). */
export function f32ToF16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) r++;
  return sign | r;
}

export function f16BitsToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** f32 → bf16 bits, round to nearest even. */
export function f32ToBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** Packs f32 values two per u32 (low half first) and returns the values as the GPU will see them. */
export function f32ToPacked16(values: ArrayLike<number>, dtype: Extract<DType, 'f16' | 'bf16'>): { packed: Uint32Array; rounded: Float32Array } {
  const n = values.length;
  const packed = new Uint32Array(Math.ceil(n / 2));
  const rounded = new Float32Array(n);
  const toBits = dtype === 'f16' ? f32ToF16Bits : f32ToBf16Bits;
  const fromBits = dtype === 'f16' ? f16BitsToF32 : bf16BitsToF32;
  for (let i = 0; i < n; i++) {
    const bits = toBits(values[i]);
    rounded[i] = fromBits(bits);
    packed[i >> 1] |= bits << ((i & 1) * 16);
  }
  return { packed, rounded };
}

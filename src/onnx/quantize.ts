/**
 * Quantized weights in MatMulNBits' storage layout, on the QAT grid of src/core/quant.ts (the grid QAT
 * trains against, in the engine and in the torch worker's qat.py), so an exported q8/q4 model
 * multiplies by exactly the weights a QAT student was trained with.
 *
 * MatMulNBits (com.microsoft) computes Y = A · dequant(B)ᵀ with B stored as uint8 [N = out, blocks,
 * blockSize·bits/8] (two 4-bit codes per byte, the low nibble first), scales [N·blocks], optional
 * zero points packed the same way per row (absent: 2^(bits−1), the symmetric grid's zero point), and
 * dequant = (code − zero point) · scale. An int4 group is one block. An int8 group (a whole row, or the
 * whole matrix) is written as blocks of 32 that repeat the group's scale and zero point, which
 * dequantizes to the same values while keeping a block size every MatMulNBits kernel handles.
 */
import { dequantize, gridFor, quantize } from '../core/quant.ts';
import type { QatConfig } from '../core/schema/adapters.ts';

export interface NBitsWeight {
  bits: 4 | 8;
  /** K = in, N = out. */
  K: number;
  N: number;
  blockSize: number;
  blocks: number;
  /** uint8 [N, blocks, blockSize·bits/8]. */
  packed: Uint8Array;
  /** [N·blocks]. */
  scales: Float32Array;
  /** Packed uint8 [N·⌈blocks·bits/8⌉]; null for symmetric grids (the default zero point). */
  zeroPoints: Uint8Array | null;
  /** Ŵ [out, in] in float32: what the quantized matmul multiplies by. */
  dequantized: Float32Array;
}

const INT8_BLOCK = 32;

/** Writes `value` (< 2^bits) as element `index` of a packed uint8 array. */
function put(dst: Uint8Array, index: number, value: number, bits: 4 | 8): void {
  if (bits === 8) dst[index] = value;
  else dst[index >> 1] |= value << ((index & 1) * 4);
}

/** Quantizes W [out, in] (nn.Linear layout) for MatMulNBits; `name` goes in errors. */
export function quantizeLinear(w: Float32Array, out: number, inF: number, cfg: QatConfig, name: string): NBitsWeight {
  if (w.length !== out * inF) throw new Error(`quantize: ${name} has ${w.length} values, expected ${out}×${inF}`);
  const grid = gridFor(cfg, [out, inF], name);
  const q = quantize(w, grid);
  const bits = grid.bits;
  const blockSize = bits === 4 ? grid.groupSize : INT8_BLOCK;
  const blocks = Math.ceil(inF / blockSize);
  const packed = new Uint8Array((out * blocks * blockSize * bits) / 8);
  const scales = new Float32Array(out * blocks);
  const zpRow = Math.ceil((blocks * bits) / 8);
  const zeroPoints = grid.symmetric ? null : new Uint8Array(out * zpRow);
  for (let o = 0; o < out; o++) {
    for (let b = 0; b < blocks; b++) {
      const group = Math.floor((o * inF + b * blockSize) / grid.groupSize);
      scales[o * blocks + b] = q.scales[group];
      if (zeroPoints) put(zeroPoints, o * zpRow * (8 / bits) + b, q.zeroPoints[group], bits);
      for (let k = 0; k < blockSize; k++) {
        const i = b * blockSize + k;
        // past K (int8 rows that are not whole blocks): the zero point's own code, which dequantizes to 0
        put(packed, (o * blocks + b) * blockSize + k, i < inF ? q.codes[o * inF + i] : q.zeroPoints[group], bits);
      }
    }
  }
  return { bits, K: inF, N: out, blockSize, blocks, packed, scales, zeroPoints, dequantized: dequantize(q) };
}

import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { randn, relErr } from '../../helpers/numeric.ts';
import { matmul } from '../../../src/engine/kernels/matmul.ts';
import { matmulRef } from '../../../src/engine/kernels/matmul.ref.ts';
import { f32ToPacked16 } from '../../../src/engine/kernels/pack.ts';

// Shapes deliberately not multiples of the 64×64×16 tile.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [1, 5, 7, 3],
  [2, 37, 70, 19],
  [1, 65, 129, 33],
  [3, 17, 9, 100],
];

describe('matmul (tolerance 1e-5 relative, f32 accumulation)', () => {
  for (const [B, M, N, K] of SHAPES) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        it(`[${B}] ${M}×${K}${transA ? 'ᵀ' : ''} · ${K}×${N}${transB ? 'ᵀ' : ''}`, async () => {
          const rt = await gpu();
          const a = randn(B * M * K, M * 7 + K);
          const b = randn(B * K * N, N * 13 + K);
          const ta = rt.upload(a, transA ? [B, K, M] : [B, M, K]);
          const tb = rt.upload(b, transB ? [B, N, K] : [B, K, N]);
          const tc = matmul(rt, ta, tb, { transA, transB });
          const got = await rt.readF32(tc);
          const { rel } = relErr(got, matmulRef(a, b, B, M, N, K, { transA, transB }));
          expect(rel).toBeLessThan(1e-5);
          for (const t of [ta, tb, tc]) t.dispose();
        });
      }
    }
  }

  it('broadcasts an unbatched B, accumulates and scales', async () => {
    const rt = await gpu();
    const [B, M, N, K] = [3, 11, 13, 21];
    const a = randn(B * M * K, 1);
    const b = randn(N * K, 2);
    const c0 = randn(B * M * N, 3);
    const ta = rt.upload(a, [B, M, K]);
    const tb = rt.upload(b, [N, K]);
    const tc = rt.upload(c0, [B, M, N]);
    matmul(rt, ta, tb, { transB: true, accumulate: true, alpha: 0.5, out: tc });
    const ref = matmulRef(a, b, B, M, N, K, { transB: true, bBatched: false, alpha: 0.5, c: c0 });
    const { rel } = relErr(await rt.readF32(tc), ref);
    console.log(`matmul accumulate: rel ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-5);
  });

  for (const dtype of ['f16', 'bf16'] as const) {
    it(`reads ${dtype}-packed weights exactly as rounded on the host`, async () => {
      const rt = await gpu();
      const [M, N, K] = [9, 33, 17];
      const a = randn(M * K, 4);
      const w = randn(N * K, 5);
      const { packed, rounded } = f32ToPacked16(w, dtype);
      const ta = rt.upload(a, [M, K]);
      const tw = rt.upload(packed, [N, K], dtype);
      const got = await rt.readF32(matmul(rt, ta, tw, { transB: true }));
      const { rel } = relErr(got, matmulRef(a, rounded, 1, M, N, K, { transB: true }));
      expect(rel).toBeLessThan(1e-5);
    });
  }
});

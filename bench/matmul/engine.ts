import type { Runtime } from '../../src/engine/runtime.ts';
import { matmul } from '../../src/engine/kernels/matmul.ts';
import type { MatmulShape } from '../protocol.ts';
import { transpose, type Timed } from '../timed.ts';

/**
 * The engine's matmul. `nk`: the weight stored [N, K] and read through `transB` — the layout of every
 * Linear in the engine's models. `kn`: the weight pre-transposed to [K, N] (the peers' layout).
 */
export function engineMatmul(rt: Runtime, s: MatmulShape, a: Float32Array, w: Float32Array, layout: 'nk' | 'kn'): Timed {
  const at = rt.upload(a, [s.M, s.K], 'f32', 'A'); // [M, K]
  const wt = layout === 'nk' ? rt.upload(w, [s.N, s.K], 'f32', 'W') : rt.upload(transpose(w, s.N, s.K), [s.K, s.N], 'f32', 'B');
  const out = rt.empty([s.M, s.N], 'f32', 'C'); // [M, N]
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) matmul(rt, at, wt, { transB: layout === 'nk', out });
      await rt.sync();
    },
    read: () => rt.readF32(out),
    dispose() {
      for (const t of [at, wt, out]) t.dispose();
    },
  };
}

import source from './candidate.wgsl?raw';
import directSource from './candidate_direct.wgsl?raw';
import { defineKernel } from '../../src/engine/kernel.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import type { Tensor } from '../../src/engine/tensor.ts';
import type { MatmulShape } from '../protocol.ts';
import type { Timed } from '../timed.ts';

const KERNEL = defineKernel({
  name: 'matmul_nt_candidate',
  source,
  bindings: [
    { name: 'a', access: 'read', type: 'vec4<f32>' },
    { name: 'w', access: 'read', type: 'vec4<f32>' },
    { name: 'c', access: 'read_write', type: 'vec4<f32>' },
  ],
  params: { M: 'u32', N: 'u32', K: 'u32' },
});

const DIRECT = defineKernel({ ...KERNEL, name: 'matmul_nt_direct', source: directSource });

/** The barrier-free candidate for software adapters (candidate_direct.wgsl): 8×8 per invocation straight from global memory. */
export function matmulNtDirect(rt: Runtime, a: Tensor, w: Tensor, out: Tensor): void {
  const [M, K] = a.shape;
  const [N] = w.shape;
  if (K % 4 !== 0 || N % 4 !== 0) throw new Error(`direct matmul: needs K and N multiples of 4, got K=${K}, N=${N}`);
  rt.dispatch(DIRECT, {}, { M, N, K }, [a, w, out], [Math.ceil(N / 64), Math.ceil(M / 64)]);
}

/**
 * Candidate for the engine's Linear matmul: C[M, N] = A[M, K] · W[N, K]ᵀ with vec4 loads along K
 * (see candidate.wgsl for what changed). Dispatched through the engine's own runtime, so it is timed
 * exactly as `matmul` is. `bk`: the K-slice per barrier, 16 or 32.
 */
export function matmulNtCandidate(rt: Runtime, a: Tensor, w: Tensor, out: Tensor, bk: 16 | 32 = 32): void {
  const [M, K] = a.shape;
  const [N, Kw] = w.shape;
  if (a.shape.length !== 2 || w.shape.length !== 2 || K !== Kw) throw new Error(`candidate matmul: ${a.describe()} · ${w.describe()}ᵀ does not fit`);
  if (K % 4 !== 0 || N % 4 !== 0) throw new Error(`candidate matmul: needs K and N multiples of 4, got K=${K}, N=${N}`);
  if (out.size !== M * N) throw new Error(`candidate matmul: out ${out.describe()} should hold [${M}, ${N}]`);
  rt.dispatch(KERNEL, { BK: bk }, { M, N, K }, [a, w, out], [Math.ceil(N / 64), Math.ceil(M / 64)]);
}

/** `direct`: the barrier-free kernel (for software adapters); `tiled`: the vec4-along-K tiled kernel with BK=16 (for GPUs). */
export function candidateMatmul(rt: Runtime, s: MatmulShape, a: Float32Array, w: Float32Array, kind: 'direct' | 'tiled'): Timed {
  const at = rt.upload(a, [s.M, s.K], 'f32', 'A');
  const wt = rt.upload(w, [s.N, s.K], 'f32', 'W');
  const out = rt.empty([s.M, s.N], 'f32', 'C');
  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        if (kind === 'direct') matmulNtDirect(rt, at, wt, out);
        else matmulNtCandidate(rt, at, wt, out, 16);
      }
      await rt.sync();
    },
    read: () => rt.readF32(out),
    dispose() {
      for (const t of [at, wt, out]) t.dispose();
    },
  };
}

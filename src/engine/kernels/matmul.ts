import source from './matmul.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor, DType } from '../tensor.ts';
import { weightLoader, weightElemType } from './weight-dtype.ts';

const params = {
  M: 'u32', N: 'u32', K: 'u32',
  aRow: 'u32', aCol: 'u32', bRow: 'u32', bCol: 'u32',
  aBatch: 'u32', bBatch: 'u32', cBatch: 'u32',
  alpha: 'f32',
} as const;

function kernel(bType: 'f32' | 'u32') {
  return defineKernel({
    name: `matmul_${bType}`,
    source,
    bindings: [
      { name: 'a', access: 'read', type: 'f32' },
      { name: 'b', access: 'read', type: bType },
      { name: 'c', access: 'read_write', type: 'f32' },
    ],
    params,
    prelude: (v) => weightLoader('load_b', 'b', v.B_DTYPE as DType),
  });
}
const KERNELS = { f32: kernel('f32'), u32: kernel('u32') };

export interface MatmulOptions {
  /** Use Aᵀ: `a` is stored [.., K, M]. */
  transA?: boolean;
  /** Use Bᵀ: `b` is stored [.., N, K] (a Linear weight [out, in]). */
  transB?: boolean;
  /** Add into `out` instead of overwriting it (gradient accumulation). */
  accumulate?: boolean;
  alpha?: number;
  out?: Tensor;
}

/** Logical [batch, rows, cols] of a tensor whose last two dims are a matrix. */
function mat(t: Tensor): [number, number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error(`matmul: ${t.describe()} is not a matrix`);
  const batch = s.slice(0, -2).reduce((x, y) => x * y, 1);
  return [batch, s[s.length - 2], s[s.length - 1]];
}

/**
 * C = alpha · op(A) · op(B). A: [..batch, M, K] (or [.., K, M] with transA); B: [..batch, K, N]
 * (or [.., N, K] with transB), or an unbatched matrix broadcast over A's batch. C: [..batch, M, N].
 */
export function matmul(rt: Runtime, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const [ab, ar, ac] = mat(a);
  const [bb, br, bc] = mat(b);
  const [M, K] = opts.transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = opts.transB ? [bc, br] : [br, bc];
  if (K !== Kb) throw new Error(`matmul: inner dims differ: ${a.describe()}${opts.transA ? 'ᵀ' : ''} · ${b.describe()}${opts.transB ? 'ᵀ' : ''}`);
  if (bb !== 1 && bb !== ab) throw new Error(`matmul: batch of ${b.describe()} must be 1 or match ${a.describe()}`);
  const batchShape = a.shape.slice(0, -2);
  const outShape = [...batchShape, M, N];
  const out = opts.out ?? rt.empty(outShape);
  if (out.size !== ab * M * N) throw new Error(`matmul: out ${out.describe()} should hold [${outShape}]`);
  if (b.dtype !== 'f32' && b.dtype !== 'f16' && b.dtype !== 'bf16') throw new Error(`matmul: ${b.describe()} has unsupported dtype`);
  const variant = { ACCUMULATE: !!opts.accumulate, B_DTYPE: b.dtype };
  rt.dispatch(
    KERNELS[weightElemType(b.dtype)],
    variant,
    {
      M, N, K,
      aRow: opts.transA ? 1 : K, aCol: opts.transA ? M : 1,
      bRow: opts.transB ? 1 : N, bCol: opts.transB ? K : 1,
      aBatch: M * K, bBatch: bb === 1 ? 0 : K * N, cBatch: M * N,
      alpha: opts.alpha ?? 1,
    },
    [a, b, out],
    [Math.ceil(N / 64), Math.ceil(M / 64), ab],
  );
  return out;
}

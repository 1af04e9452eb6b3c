import source from './grad_norm.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';

const WG = 256;
/** Elements a thread sums before a tensor gets another workgroup (and another partial). */
const PER_THREAD = 8;
/** Partials per tensor at most: enough workgroups to fill a GPU, few enough for one finishing workgroup. */
const MAX_GROUPS = 1024;

const params = { n: 'u32', groups: 'u32', offset: 'u32' } as const;
const bindings = [
  { name: 'src', access: 'read', type: 'u32' },
  { name: 'dst', access: 'read_write', type: 'u32' },
] as const;
const SUM_SQUARES = defineKernel({ name: 'grad_norm_sum_squares', source, bindings, params, entry: 'sum_squares' });
const FINISH = defineKernel({ name: 'grad_norm_finish', source, bindings, params, entry: 'finish' });

/** Workgroups, hence partial sums, that a gradient of `n` elements gets. */
export function sumSquaresGroups(n: number): number {
  return Math.min(MAX_GROUPS, Math.ceil(n / (WG * PER_THREAD)));
}

/**
 * The global squared L2 norm of `grads` and a NaN/Inf flag, left on the GPU for the optimizer to read.
 * grads: f32 tensors of any shapes → out [2] u32: out[0] = Σ‖g‖² as f32 bits, out[1] = 1 when a
 * gradient holds NaN/Inf or the sum overflows f32 (out[0] is then NaN), else 0.
 */
export function gradNorm(rt: Runtime, grads: readonly Tensor[], out?: Tensor): Tensor {
  const result = out ?? rt.empty([2], 'u32', 'grad_norm');
  if (result.dtype !== 'u32' || result.size !== 2) throw new Error(`gradNorm: out ${result.describe()} should be [2]:u32`);
  let count = 0;
  for (const g of grads) {
    if (g.dtype !== 'f32') throw new Error(`gradNorm: gradient ${g.describe()} is not f32`);
    count += sumSquaresGroups(g.size);
  }
  const partials = rt.empty([Math.max(count, 1)], 'u32', 'grad_norm.partials');
  let offset = 0;
  for (const g of grads) {
    const groups = sumSquaresGroups(g.size);
    rt.dispatch(SUM_SQUARES, {}, { n: g.size, groups, offset }, [g, partials], [groups]);
    offset += groups;
  }
  rt.dispatch(FINISH, {}, { n: count, groups: 1, offset: 0 }, [partials, result], [1]);
  partials.dispose(); // back to the pool; the dispatches above are encoded before any later reuse
  return result;
}

/** Reads a `gradNorm` result: the squared norm and whether a gradient was NaN/Inf. */
export async function readGradNorm(rt: Runtime, result: Tensor): Promise<{ sumSq: number; nonFinite: boolean }> {
  const bits = (await rt.read(result)) as Uint32Array;
  return { sumSq: new Float32Array(bits.buffer, 0, 1)[0], nonFinite: bits[1] !== 0 };
}

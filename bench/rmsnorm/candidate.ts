import source from '../../src/engine/kernels/rmsnorm_rows.wgsl?raw'; // adopted by the engine for software adapters
import { defineKernel } from '../../src/engine/kernel.ts';
import type { Runtime } from '../../src/engine/runtime.ts';
import type { Tensor } from '../../src/engine/tensor.ts';

const KERNEL = defineKernel({
  name: 'rmsnorm_rows_candidate',
  source,
  bindings: [
    { name: 'x', access: 'read', type: 'f32' },
    { name: 'w', access: 'read', type: 'f32' },
    { name: 'y', access: 'read_write', type: 'f32' },
    { name: 'rstd', access: 'read_write', type: 'f32' },
  ],
  params: { N: 'u32', C: 'u32', eps: 'f32' },
});

/** x [N, C], w [C] → y [N, C], rstd [N]: the engine's rmsnormForward contract, one invocation per row. */
export function rmsnormRows(rt: Runtime, x: Tensor, w: Tensor, eps: number): { y: Tensor; rstd: Tensor } {
  const C = x.shape[x.shape.length - 1];
  if (w.size !== C) throw new Error(`rmsnorm candidate: weight ${w.describe()} should be [${C}] for x ${x.describe()}`);
  const N = x.size / C;
  const y = rt.empty(x.shape, 'f32', 'rmsnorm.y');
  const rstd = rt.empty([N], 'f32', 'rmsnorm.rstd');
  const groups = Math.ceil(N / 64);
  const max = rt.device.limits.maxComputeWorkgroupsPerDimension;
  rt.dispatch(KERNEL, {}, { N, C, eps }, [x, w, y, rstd], [Math.min(groups, max), Math.ceil(groups / max)]);
  return { y, rstd };
}

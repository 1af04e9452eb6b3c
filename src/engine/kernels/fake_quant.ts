import source from './fake_quant.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { invSteps, type QuantGrid } from '../../core/quant.ts';
import { rowGrid } from './elementwise.ts';

const FORWARD = defineKernel({
  name: 'fake_quant',
  source,
  bindings: [
    { name: 'w', access: 'read', type: 'f32' },
    { name: 'wq', access: 'read_write', type: 'f32' },
  ],
  params: { groups: 'u32', groupSize: 'u32', invSteps: 'f32' },
});

/**
 * w [out, in] (f32) → Ŵ [out, in]: w on `grid` (src/core/quant.ts). The backward is the
 * straight-through estimator, ∂L/∂W = ∂L/∂Ŵ, recorded by ops.fakeQuant.
 */
export function fakeQuantForward(rt: Runtime, w: Tensor, grid: QuantGrid): Tensor {
  if (w.dtype !== 'f32') throw new Error(`fakeQuantForward: ${w.describe()} must be f32 (QAT trains full-precision weights)`);
  if (w.size % grid.groupSize !== 0) throw new Error(`fakeQuantForward: ${w.describe()} is not whole groups of ${grid.groupSize}`);
  const groups = w.size / grid.groupSize;
  const wq = rt.empty(w.shape, 'f32', `${w.name}.q${grid.bits}`);
  rt.dispatch(FORWARD, { BITS: grid.bits, SYMMETRIC: grid.symmetric }, { groups, groupSize: grid.groupSize, invSteps: invSteps(grid) }, [w, wq], rowGrid(Math.ceil(groups / 64), 'fakeQuantForward'));
  return wq;
}

import source from './swiglu.wgsl?raw';
import backwardSource from './swiglu_backward.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { flatGrid } from './elementwise.ts';

const FORWARD = defineKernel({
  name: 'swiglu',
  source,
  bindings: [
    { name: 'gate', access: 'read', type: 'f32' },
    { name: 'up', access: 'read', type: 'f32' },
    { name: 'h', access: 'read_write', type: 'f32' },
  ],
  params: { n: 'u32' },
});

const BACKWARD = defineKernel({
  name: 'swiglu_backward',
  source: backwardSource,
  bindings: [
    { name: 'dy', access: 'read', type: 'f32' },
    { name: 'gate', access: 'read', type: 'f32' },
    { name: 'up', access: 'read', type: 'f32' },
    { name: 'dgate', access: 'read_write', type: 'f32' },
    { name: 'dup', access: 'read_write', type: 'f32' },
  ],
  params: { n: 'u32' },
});

function check(fn: string, ref: Tensor, ...others: Tensor[]): void {
  for (const t of [ref, ...others]) {
    if (t.dtype !== 'f32') throw new Error(`${fn}: ${t.describe()} must be f32`);
    if (t.size !== ref.size) throw new Error(`${fn}: ${t.describe()} should match ${ref.describe()}`);
  }
}

// gate [N, F], up [N, F] → h [N, F] = silu(gate) · up.
export function swigluForward(rt: Runtime, gate: Tensor, up: Tensor): Tensor {
  check('swigluForward', gate, up);
  const h = rt.empty(gate.shape, 'f32', 'swiglu');
  rt.dispatch(FORWARD, {}, { n: gate.size }, [gate, up, h], flatGrid(gate.size, 'swigluForward'));
  return h;
}

// dy [N, F], gate [N, F], up [N, F] → dgate [N, F], dup [N, F].
export function swigluBackward(rt: Runtime, dy: Tensor, gate: Tensor, up: Tensor): { dgate: Tensor; dup: Tensor } {
  check('swigluBackward', gate, up, dy);
  const dgate = rt.empty(gate.shape, 'f32', 'swiglu.dgate');
  const dup = rt.empty(up.shape, 'f32', 'swiglu.dup');
  rt.dispatch(BACKWARD, {}, { n: gate.size }, [dy, gate, up, dgate, dup], flatGrid(gate.size, 'swigluBackward'));
  return { dgate, dup };
}

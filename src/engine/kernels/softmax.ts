import source from './softmax.wgsl?raw';
import backwardSource from './softmax_backward.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { rowGrid } from './elementwise.ts';

const params = { N: 'u32', V: 'u32', T: 'f32', mode: 'u32' } as const;

function forwardKernel(entry: 'forward' | 'logsumexp') {
  return defineKernel({
    name: `softmax_${entry}`,
    source,
    entry,
    bindings: [
      { name: 'x', access: 'read', type: 'f32' },
      { name: 'out', access: 'read_write', type: 'f32' },
    ],
    params,
  });
}
const FORWARD = forwardKernel('forward');
const LOGSUMEXP = forwardKernel('logsumexp');

const BACKWARD = defineKernel({
  name: 'softmax_backward',
  source: backwardSource,
  bindings: [
    { name: 'y', access: 'read', type: 'f32' },
    { name: 'dy', access: 'read', type: 'f32' },
    { name: 'dx', access: 'read_write', type: 'f32' },
  ],
  params,
});

/** Keep in step with MODE_LOG of the .wgsl files. */
const MODE = { softmax: 0, log: 1 } as const;

function rows(fn: string, x: Tensor, T: number): [number, number] {
  if (x.dtype !== 'f32' || x.shape.length < 1) throw new Error(`${fn}: ${x.describe()} must be an f32 [N, V]`);
  if (!(T > 0) || !Number.isFinite(T)) throw new Error(`${fn}: temperature ${T} must be a positive number`);
  const V = x.shape[x.shape.length - 1];
  return [V === 0 ? 0 : x.size / V, V];
}

function forward(fn: string, rt: Runtime, x: Tensor, T: number, mode: number): Tensor {
  const [N, V] = rows(fn, x, T);
  const y = rt.empty(x.shape, 'f32', fn);
  rt.dispatch(FORWARD, {}, { N, V, T, mode }, [x, y], rowGrid(N, fn));
  return y;
}

function backward(fn: string, rt: Runtime, dy: Tensor, y: Tensor, T: number, mode: number): Tensor {
  const [N, V] = rows(fn, y, T);
  if (dy.dtype !== 'f32' || dy.size !== y.size) throw new Error(`${fn}: dy ${dy.describe()} should match y ${y.describe()}`);
  const dx = rt.empty(y.shape, 'f32', `${fn}.dx`);
  rt.dispatch(BACKWARD, {}, { N, V, T, mode }, [y, dy, dx], rowGrid(N, fn));
  return dx;
}

// x [N, V] → y [N, V] = softmax(x / T) along V.
export function softmaxForward(rt: Runtime, x: Tensor, T = 1): Tensor {
  return forward('softmaxForward', rt, x, T, MODE.softmax);
}

// dy [N, V], y = softmaxForward(x, T) [N, V] → dx [N, V].
export function softmaxBackward(rt: Runtime, dy: Tensor, y: Tensor, T = 1): Tensor {
  return backward('softmaxBackward', rt, dy, y, T, MODE.softmax);
}

// x [N, V] → y [N, V] = log_softmax(x / T) along V.
export function logSoftmaxForward(rt: Runtime, x: Tensor, T = 1): Tensor {
  return forward('logSoftmaxForward', rt, x, T, MODE.log);
}

// dy [N, V], y = logSoftmaxForward(x, T) [N, V] → dx [N, V].
export function logSoftmaxBackward(rt: Runtime, dy: Tensor, y: Tensor, T = 1): Tensor {
  return backward('logSoftmaxBackward', rt, dy, y, T, MODE.log);
}

// x [N, V] → lse [N] = log Σ_v exp(x[n, v] / T).
export function rowLogSumExp(rt: Runtime, x: Tensor, T = 1): Tensor {
  const [N, V] = rows('rowLogSumExp', x, T);
  const out = rt.empty(x.shape.slice(0, -1), 'f32', 'logsumexp');
  rt.dispatch(LOGSUMEXP, {}, { N, V, T, mode: 0 }, [x, out], rowGrid(N, 'rowLogSumExp'));
  return out;
}

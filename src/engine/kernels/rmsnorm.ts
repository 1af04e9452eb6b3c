import source from './rmsnorm.wgsl?raw';
import backwardSource from './rmsnorm_backward.wgsl?raw';
import rowsSource from './rmsnorm_rows.wgsl?raw';
import rowsBackwardSource from './rmsnorm_rows_backward.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { columnSum, rowGrid } from './elementwise.ts';

/** Rows one dweight thread sums before its column gets another partial. */
const ROWS_PER_CHUNK = 64;

const FORWARD = defineKernel({
  name: 'rmsnorm',
  source,
  bindings: [
    { name: 'x', access: 'read', type: 'f32' },
    { name: 'w', access: 'read', type: 'f32' },
    { name: 'y', access: 'read_write', type: 'f32' },
    { name: 'rstd', access: 'read_write', type: 'f32' },
  ],
  params: { N: 'u32', C: 'u32', eps: 'f32' },
});

/** The same forward, one invocation per row: for software adapters, where every barrier is costly. */
const FORWARD_ROWS = defineKernel({ ...FORWARD, name: 'rmsnorm_rows', source: rowsSource });

export type RmsnormImpl = 'workgroup' | 'rows';

function backwardKernel(entry: 'dx' | 'dweight_partials') {
  return defineKernel({
    name: `rmsnorm_backward_${entry}`,
    source: backwardSource,
    entry,
    bindings: [
      { name: 'dy', access: 'read', type: 'f32' },
      { name: 'x', access: 'read', type: 'f32' },
      { name: 'w', access: 'read', type: 'f32' },
      { name: 'rstd', access: 'read', type: 'f32' },
      { name: 'out', access: 'read_write', type: 'f32' },
    ],
    params: { N: 'u32', C: 'u32', rowsPerChunk: 'u32' },
  });
}
const DX = backwardKernel('dx');
const DX_ROWS = defineKernel({ ...DX, name: 'rmsnorm_rows_backward_dx', source: rowsBackwardSource, entry: 'main' });
const DWEIGHT = backwardKernel('dweight_partials');

/** Rows and columns of x [..., C] against a weight [C]; throws naming the op and tensors. */
function rowsOf(fn: string, x: Tensor, w: Tensor): [number, number] {
  if (x.shape.length < 1 || x.dtype !== 'f32') throw new Error(`${fn}: x ${x.describe()} must be an f32 [N, C]`);
  const C = x.shape[x.shape.length - 1];
  if (w.dtype !== 'f32' || w.size !== C) throw new Error(`${fn}: weight ${w.describe()} should be [${C}]:f32 for x ${x.describe()}`);
  return [x.size / C, C];
}

// x [N, C], weight [C] → y [N, C] = x · rstd · weight, rstd [N] = 1 / sqrt(mean(x²) + eps) (saved for backward).
// `impl`: a workgroup per row (GPUs) or an invocation per row (software adapters: 14–650× faster on
// SwiftShader, bench/README.md); chosen from the adapter unless given.
export function rmsnormForward(
  rt: Runtime, x: Tensor, w: Tensor, eps: number, impl: RmsnormImpl = rt.env.isSoftware ? 'rows' : 'workgroup',
): { y: Tensor; rstd: Tensor } {
  const [N, C] = rowsOf('rmsnormForward', x, w);
  if (!(eps >= 0)) throw new Error(`rmsnormForward: eps ${eps} must be ≥ 0`);
  const y = rt.empty(x.shape, 'f32', 'rmsnorm');
  const rstd = rt.empty([N], 'f32', 'rmsnorm.rstd');
  if (impl === 'rows') rt.dispatch(FORWARD_ROWS, {}, { N, C, eps }, [x, w, y, rstd], rowGrid(Math.ceil(N / 64), 'rmsnormForward'));
  else rt.dispatch(FORWARD, {}, { N, C, eps }, [x, w, y, rstd], rowGrid(N, 'rmsnormForward'));
  return { y, rstd };
}

export interface RmsnormBackwardOptions {
  /** Compute dweight (false when the weight is frozen). Default true. */
  needWeight?: boolean;
  /** Write dweight here (a parameter's `.grad`)… */
  out?: Tensor;
  /** …adding to what it holds. */
  accumulate?: boolean;
  /** As rmsnormForward's `impl`; chosen from the adapter unless given. */
  impl?: RmsnormImpl;
}

// dy [N, C], x [N, C], weight [C], rstd [N] → dx [N, C], dweight [C] (null unless needed).
export function rmsnormBackward(
  rt: Runtime, dy: Tensor, x: Tensor, w: Tensor, rstd: Tensor, opts: RmsnormBackwardOptions = {},
): { dx: Tensor; dw: Tensor | null } {
  const [N, C] = rowsOf('rmsnormBackward', x, w);
  if (dy.dtype !== 'f32' || dy.size !== x.size) throw new Error(`rmsnormBackward: dy ${dy.describe()} should match x ${x.describe()}`);
  if (rstd.dtype !== 'f32' || rstd.size !== N) throw new Error(`rmsnormBackward: rstd ${rstd.describe()} should be [${N}]:f32`);
  const dx = rt.empty(x.shape, 'f32', 'rmsnorm.dx');
  const impl = opts.impl ?? (rt.env.isSoftware ? 'rows' : 'workgroup');
  if (impl === 'rows') rt.dispatch(DX_ROWS, {}, { N, C, rowsPerChunk: 0 }, [dy, x, w, rstd, dx], rowGrid(Math.ceil(N / 64), 'rmsnormBackward'));
  else rt.dispatch(DX, {}, { N, C, rowsPerChunk: 0 }, [dy, x, w, rstd, dx], rowGrid(N, 'rmsnormBackward'));
  if (opts.needWeight === false) return { dx, dw: null };
  const chunks = Math.ceil(N / ROWS_PER_CHUNK);
  const partials = rt.empty([chunks, C], 'f32', 'rmsnorm.dw_partials');
  rt.dispatch(DWEIGHT, {}, { N, C, rowsPerChunk: ROWS_PER_CHUNK }, [dy, x, w, rstd, partials], [Math.ceil(C / 256), chunks]);
  const dw = columnSum(rt, partials, opts.out, opts.accumulate ?? false);
  partials.dispose();
  return { dx, dw };
}

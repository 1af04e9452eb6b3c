import source from './elementwise.wgsl?raw';
import { defineKernel, type KernelDef } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { DType, Tensor } from '../tensor.ts';
import { weightLoader, weightElemType } from './weight-dtype.ts';

const WG = 256;
const MAX_GRID = 65535;
/** Rows a column-sum thread adds before its column gets another partial (first of two passes). */
const ROWS_PER_CHUNK = 64;
/** Elements a sum-of-squares thread adds before the tensor gets another workgroup. */
const SQ_PER_THREAD = 8;
const SQ_MAX_GROUPS = 1024;

/**
 * A 2-D grid of 256-thread workgroups covering `threads` threads, for kernels that compute a flat
 * index as (wg.y · num_workgroups.x + wg.x) · 256 + local index (grid dims stop at 65535).
 */
export function flatGrid(threads: number, what: string): [number, number] {
  const groups = Math.ceil(threads / WG);
  const x = Math.min(Math.max(groups, 1), MAX_GRID);
  const y = Math.ceil(groups / x);
  if (y > MAX_GRID) throw new Error(`${what}: ${threads} threads exceed a ${MAX_GRID}×${MAX_GRID} grid`);
  return [groups === 0 ? 0 : x, y];
}

/** Rows one workgroup each, on a 2-D grid: row = wg.y · num_workgroups.x + wg.x. */
export function rowGrid(rows: number, what: string): [number, number] {
  const x = Math.min(rows, MAX_GRID);
  const y = x === 0 ? 0 : Math.ceil(rows / x);
  if (y > MAX_GRID) throw new Error(`${what}: ${rows} rows exceed a ${MAX_GRID}×${MAX_GRID} grid`);
  return [x, y];
}

const params = { n: 'u32', cols: 'u32', rowsPerChunk: 'u32', accumulate: 'u32', op: 'u32', alpha: 'f32' } as const;
type Def = KernelDef<typeof params>;

function kernel(entry: string, aType: 'f32' | 'u32'): Def {
  return defineKernel({
    name: `elementwise_${entry}_${aType}`,
    source,
    entry,
    bindings: [
      { name: 'a', access: 'read', type: aType },
      { name: 'b', access: 'read', type: 'f32' },
      { name: 'out', access: 'read_write', type: 'f32' },
    ],
    params,
    prelude: (v) => weightLoader('load_a', 'a', v.A_DTYPE as DType),
  });
}
const MAP = { f32: kernel('map', 'f32'), u32: kernel('map', 'u32') };
const COL_SUM = kernel('col_sum', 'f32');
const SUM_SQ = kernel('sum_sq', 'f32');

/** Keep in step with the OP_* constants of elementwise.wgsl. */
const OP = { add: 0, mul: 1, scale: 2, axpy: 3, addBias: 4, fill: 5 } as const;

function requireF32(fn: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new Error(`${fn}: ${t.describe()} must be f32`);
}

function requireSameSize(fn: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size) throw new Error(`${fn}: ${a.describe()} and ${b.describe()} differ in size`);
}

/** Writable `out` may not also be bound as a read input (WebGPU forbids the aliasing). */
function requireDistinct(fn: string, out: Tensor, ...inputs: Tensor[]): void {
  for (const t of inputs) if (t.buffer === out.buffer) throw new Error(`${fn}: ${out.describe()} is both the output and an input`);
}

function map(rt: Runtime, op: number, a: Tensor, b: Tensor, out: Tensor, alpha: number, cols = 1): void {
  const packed = a.dtype === 'f16' || a.dtype === 'bf16';
  rt.dispatch(
    MAP[weightElemType(a.dtype)],
    { A_DTYPE: packed ? a.dtype : 'f32' },
    { n: out.size, cols, rowsPerChunk: 0, accumulate: 0, op, alpha },
    [a, b, out],
    flatGrid(out.size, 'elementwise'),
  );
}

/** a + b (same shape) → new tensor. */
export function add(rt: Runtime, a: Tensor, b: Tensor): Tensor {
  requireF32('add', a, b);
  requireSameSize('add', a, b);
  const out = rt.empty(a.shape, 'f32', a.name);
  map(rt, OP.add, a, b, out, 1);
  return out;
}

/** a · b (same shape) → new tensor. */
export function mul(rt: Runtime, a: Tensor, b: Tensor): Tensor {
  requireF32('mul', a, b);
  requireSameSize('mul', a, b);
  const out = rt.empty(a.shape, 'f32', a.name);
  map(rt, OP.mul, a, b, out, 1);
  return out;
}

/** s · x → new tensor. */
export function scale(rt: Runtime, x: Tensor, s: number): Tensor {
  requireF32('scale', x);
  const out = rt.empty(x.shape, 'f32', x.name);
  map(rt, OP.scale, x, x, out, s);
  return out;
}

/** dst += alpha · src in place (gradient accumulation); same element count. Returns dst. */
export function addInPlace(rt: Runtime, dst: Tensor, src: Tensor, alpha = 1): Tensor {
  requireF32('addInPlace', dst, src);
  requireSameSize('addInPlace', dst, src);
  requireDistinct('addInPlace', dst, src);
  map(rt, OP.axpy, src, src, dst, alpha);
  return dst;
}

/** x [N, C] += bias [C] in place (a Linear's bias). Returns x. */
export function addBias(rt: Runtime, x: Tensor, bias: Tensor): Tensor {
  requireF32('addBias', x, bias);
  const C = x.shape[x.shape.length - 1];
  if (bias.size !== C) throw new Error(`addBias: bias ${bias.describe()} should have ${C} elements for ${x.describe()}`);
  requireDistinct('addBias', x, bias);
  map(rt, OP.addBias, bias, bias, x, 1, C);
  return x;
}

/** x = value everywhere, in place. Returns x. */
export function fill(rt: Runtime, x: Tensor, value: number): Tensor {
  requireF32('fill', x);
  // `map` has read bindings even when the op ignores them; they must not alias x.
  const unused = rt.empty([1], 'f32', 'fill.unused');
  map(rt, OP.fill, unused, unused, x, value);
  unused.dispose(); // back to the pool; the dispatch above is encoded before any reuse
  return x;
}

/** Packed f16/bf16 (or f32) x → a new f32 tensor of the same shape. */
export function unpack(rt: Runtime, x: Tensor): Tensor {
  if (x.dtype !== 'f32' && x.dtype !== 'f16' && x.dtype !== 'bf16') throw new Error(`unpack: ${x.describe()} is not a float tensor`);
  const out = rt.empty(x.shape, 'f32', x.name);
  map(rt, OP.scale, x, x, out, 1);
  return out;
}

/** x → dtype. Only the widening to f32 runs on the GPU; packing to 16 bits is the host's (core/safetensors). */
export function cast(rt: Runtime, x: Tensor, dtype: DType): Tensor {
  if (dtype !== 'f32') throw new Error(`cast: ${x.describe()} → ${dtype} is not supported (only → f32)`);
  return unpack(rt, x);
}

/**
 * Column sums: x [R, C] → out [C] (accumulated into `out` when `accumulate`). Two passes without
 * atomics: chunks of rows → partials [⌈R/64⌉, C], then one chunk over the partials.
 */
export function columnSum(rt: Runtime, x: Tensor, out?: Tensor, accumulate = false): Tensor {
  requireF32('columnSum', x);
  const C = x.shape[x.shape.length - 1] ?? 1;
  const R = x.size / Math.max(C, 1);
  const result = out ?? rt.empty([C], 'f32', 'column_sum');
  if (result.size !== C) throw new Error(`columnSum: out ${result.describe()} should have ${C} elements for ${x.describe()}`);
  requireF32('columnSum', result);
  requireDistinct('columnSum', result, x);
  const colGroups = Math.ceil(C / WG);
  if (R <= ROWS_PER_CHUNK) {
    rt.dispatch(COL_SUM, { A_DTYPE: 'f32' }, { n: R, cols: C, rowsPerChunk: R, accumulate: +accumulate, op: 0, alpha: 1 }, [x, x, result], [colGroups, 1]);
    return result;
  }
  const chunks = Math.ceil(R / ROWS_PER_CHUNK);
  const partials = rt.empty([chunks, C], 'f32', 'column_sum.partials');
  rt.dispatch(COL_SUM, { A_DTYPE: 'f32' }, { n: R, cols: C, rowsPerChunk: ROWS_PER_CHUNK, accumulate: 0, op: 0, alpha: 1 }, [x, x, partials], [colGroups, chunks]);
  rt.dispatch(COL_SUM, { A_DTYPE: 'f32' }, { n: chunks, cols: C, rowsPerChunk: chunks, accumulate: +accumulate, op: 0, alpha: 1 }, [partials, partials, result], [colGroups, 1]);
  partials.dispose();
  return result;
}

/** Gradient of `addBias`: dy [N, C] → dbias [C] = Σ_rows dy (accumulated into `out` when asked). */
export function biasGrad(rt: Runtime, dy: Tensor, out?: Tensor, accumulate = false): Tensor {
  return columnSum(rt, dy, out, accumulate);
}

/** Σ x² over every element → [1] (accumulated into `out` when asked). Per-workgroup partials, then a column sum. */
export function sumSquares(rt: Runtime, x: Tensor, out?: Tensor, accumulate = false): Tensor {
  requireF32('sumSquares', x);
  const result = out ?? rt.empty([1], 'f32', 'sum_squares');
  if (result.size !== 1) throw new Error(`sumSquares: out ${result.describe()} should have 1 element`);
  requireDistinct('sumSquares', result, x);
  const groups = Math.max(1, Math.min(SQ_MAX_GROUPS, Math.ceil(x.size / (WG * SQ_PER_THREAD))));
  const partials = rt.empty([groups, 1], 'f32', 'sum_squares.partials');
  rt.dispatch(SUM_SQ, { A_DTYPE: 'f32' }, { n: x.size, cols: 1, rowsPerChunk: 0, accumulate: 0, op: 0, alpha: 1 }, [x, x, partials], [groups]);
  columnSum(rt, partials, result, accumulate);
  partials.dispose();
  return result;
}

import source from './embedding.wgsl?raw';
import backwardSource from './embedding_backward.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { DType, Tensor } from '../tensor.ts';
import { weightLoader, weightElemType } from './weight-dtype.ts';
import { flatGrid } from './elementwise.ts';

function forwardKernel(tableType: 'f32' | 'u32') {
  return defineKernel({
    name: `embedding_${tableType}`,
    source,
    bindings: [
      { name: 'ids', access: 'read', type: 'i32' },
      { name: 'table', access: 'read', type: tableType },
      { name: 'out', access: 'read_write', type: 'f32' },
    ],
    params: { N: 'u32', C: 'u32', V: 'u32' },
    prelude: (v) => weightLoader('load_table', 'table', v.TABLE_DTYPE as DType),
  });
}
const FORWARD = { f32: forwardKernel('f32'), u32: forwardKernel('u32') };

const BACKWARD = defineKernel({
  name: 'embedding_backward',
  source: backwardSource,
  bindings: [
    { name: 'dy', access: 'read', type: 'f32' },
    { name: 'groups', access: 'read', type: 'i32' },
    { name: 'dTable', access: 'read_write', type: 'f32' },
  ],
  params: { U: 'u32', C: 'u32', accumulate: 'u32' },
});

/** Token positions grouped by id (CSR): what the backward needs to sum rows without atomics. */
export interface IdGroups {
  /** Distinct ids, ascending. [U] */
  readonly unique: Int32Array;
  /** The positions of unique[u] are positions[offsets[u] .. offsets[u + 1]). [U + 1] */
  readonly offsets: Int32Array;
  /** Every position 0..N−1, grouped by id, ascending within a group. [N] */
  readonly positions: Int32Array;
}

/** Groups the positions of `ids` [N] by id (host side; the ids of a batch are known before the forward). */
export function groupIds(ids: Int32Array): IdGroups {
  const N = ids.length;
  for (let n = 0; n < N; n++) {
    if (ids[n] < 0) throw new Error(`groupIds: id ${ids[n]} at position ${n} is negative`);
  }
  const positions = Int32Array.from({ length: N }, (_, n) => n).sort((a, b) => ids[a] - ids[b] || a - b);
  const unique: number[] = [];
  const offsets: number[] = [];
  for (let p = 0; p < N; p++) {
    const id = ids[positions[p]];
    if (p === 0 || id !== ids[positions[p - 1]]) {
      unique.push(id);
      offsets.push(p);
    }
  }
  offsets.push(N);
  return { unique: Int32Array.from(unique), offsets: Int32Array.from(offsets), positions };
}

/** Throws, naming the position, when an id falls outside a vocabulary of `vocab` rows. */
export function checkIds(ids: Int32Array, vocab: number, what = 'ids'): void {
  for (let n = 0; n < ids.length; n++) {
    if (ids[n] < 0 || ids[n] >= vocab) throw new Error(`${what}: id ${ids[n]} at position ${n} is outside the embedding's ${vocab} rows`);
  }
}

// ids [...S] (i32), table [V, C] (f32 or packed f16/bf16) → out [...S, C] (f32). Ids outside [0, V) give zero rows.
export function embeddingForward(rt: Runtime, ids: Tensor, table: Tensor): Tensor {
  if (ids.dtype !== 'i32') throw new Error(`embeddingForward: ids ${ids.describe()} must be i32`);
  if (table.shape.length !== 2) throw new Error(`embeddingForward: table ${table.describe()} must be [V, C]`);
  if (table.dtype !== 'f32' && table.dtype !== 'f16' && table.dtype !== 'bf16') {
    throw new Error(`embeddingForward: table ${table.describe()} must be f32, f16 or bf16`);
  }
  const [V, C] = table.shape;
  const N = ids.size;
  const out = rt.empty([...ids.shape, C], 'f32', 'embedding');
  rt.dispatch(FORWARD[weightElemType(table.dtype)], { TABLE_DTYPE: table.dtype }, { N, C, V }, [ids, table, out], flatGrid(N * C, 'embeddingForward'));
  return out;
}

// dy [N, C], groups of ids [N] → dTable [V, C] (f32): written, or added into `out` when `accumulate`.
export function embeddingBackward(
  rt: Runtime, dy: Tensor, groups: IdGroups, tableShape: readonly number[], out?: Tensor, accumulate = false,
): Tensor {
  if (tableShape.length !== 2) throw new Error(`embeddingBackward: table shape [${tableShape}] must be [V, C]`);
  const [V, C] = tableShape;
  const N = groups.positions.length;
  const U = groups.unique.length;
  if (dy.dtype !== 'f32' || dy.size !== N * C) {
    throw new Error(`embeddingBackward: dy ${dy.describe()} should be [${N}, ${C}]:f32 for ${N} ids and table [${V}, ${C}]`);
  }
  if (U > 0 && groups.unique[U - 1] >= V) {
    const id = groups.unique[U - 1];
    const pos = groups.positions[groups.offsets[U - 1]];
    throw new Error(`embeddingBackward: id ${id} at position ${pos} is outside the table's ${V} rows`);
  }
  const dTable = out ?? rt.zeros([V, C], 'f32', 'embedding.grad');
  if (dTable.dtype !== 'f32' || dTable.size !== V * C) throw new Error(`embeddingBackward: out ${dTable.describe()} should be [${V}, ${C}]:f32`);
  if (out && !accumulate) rt.clear(dTable); // rows of ids absent from the batch get zero
  if (U === 0) return dTable;
  const packed = new Int32Array(2 * U + 1 + N);
  packed.set(groups.unique, 0);
  packed.set(groups.offsets, U);
  packed.set(groups.positions, 2 * U + 1);
  const g = rt.upload(packed, [packed.length], 'i32', 'embedding.groups');
  rt.dispatch(BACKWARD, {}, { U, C, accumulate: +accumulate }, [dy, g, dTable], flatGrid(U * C, 'embeddingBackward'));
  g.dispose(); // back to the pool; the dispatch is encoded before any reuse
  return dTable;
}

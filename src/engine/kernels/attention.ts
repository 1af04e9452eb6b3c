import source from './attention.wgsl?raw';
import backwardSource from './attention_backward.wgsl?raw';
import decodeSource from './attention_decode.wgsl?raw';
import probsSource from './attention_probs.wgsl?raw';
import { defineKernel } from '../kernel.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { rowGrid } from './elementwise.ts';

/** Largest head_dim the kernels stage (Qwen3 and Llama use 128). */
export const MAX_HEAD_DIM = 128;
/** Query rows per forward/dq workgroup, keys per dk/dv workgroup (attention*.wgsl). */
const ROW_BLOCK = 16;
/** Keys per forward step: key splits are multiples of it. */
const KEY_STEP = 8;
/** Keys per split when decoding few queries over a long cache; at most MAX_SPLITS splits. */
const KEYS_PER_SPLIT = 256;
const MAX_SPLITS = 64;
/** Workgroups (row blocks × kv heads × batch) from which a decode step is parallel enough unsplit. */
const BUSY_WORKGROUPS = 64;
const MAX_GRID = 65535;

const u32 = 'u32' as const;

const FORWARD = defineKernel({
  name: 'attention_forward',
  source,
  entry: 'forward',
  bindings: [
    { name: 'q', access: 'read', type: 'f32' },
    { name: 'k', access: 'read', type: 'f32' },
    { name: 'v', access: 'read', type: 'f32' },
    { name: 'mask', access: 'read', type: 'u32' },
    { name: 'out', access: 'read_write', type: 'f32' },
    { name: 'lse', access: 'read_write', type: 'f32' },
  ],
  params: {
    B: u32, T: u32, H: u32, KV: u32, D: u32, past: u32, S: u32, kvRows: u32,
    maskStride: u32, hasMask: u32, splitLen: u32, scale: 'f32',
  },
});

const COMBINE = defineKernel({
  name: 'attention_combine',
  source: decodeSource,
  entry: 'combine',
  bindings: [
    { name: 'parts', access: 'read', type: 'f32' },
    { name: 'lseParts', access: 'read', type: 'f32' },
    { name: 'out', access: 'read_write', type: 'f32' },
  ],
  params: { B: u32, T: u32, H: u32, D: u32, splits: u32 },
});

// One binding list for the three backward entries (8 storage buffers, WebGPU's guaranteed maximum);
// g0/g1 are each entry's own: delta reads out/lse there, dq writes dq, dkdv writes dk/dv.
function backwardKernel(entry: 'delta' | 'dq' | 'dkdv') {
  return defineKernel({
    name: `attention_backward_${entry}`,
    source: backwardSource,
    entry,
    bindings: [
      { name: 'q', access: 'read', type: 'f32' },
      { name: 'k', access: 'read', type: 'f32' },
      { name: 'v', access: 'read', type: 'f32' },
      { name: 'mask', access: 'read', type: 'u32' },
      { name: 'dout', access: 'read', type: 'f32' },
      { name: 'stats', access: 'read_write', type: 'vec2<f32>' },
      { name: 'g0', access: 'read_write', type: 'f32' },
      { name: 'g1', access: 'read_write', type: 'f32' },
    ],
    params: { B: u32, T: u32, H: u32, KV: u32, D: u32, maskStride: u32, hasMask: u32, scale: 'f32' },
  });
}
const DELTA = backwardKernel('delta');
const DQ = backwardKernel('dq');
const DKDV = backwardKernel('dkdv');

const PROBS = defineKernel({
  name: 'attention_probs',
  source: probsSource,
  entry: 'probs_rows',
  bindings: [
    { name: 'q', access: 'read', type: 'f32' },
    { name: 'k', access: 'read', type: 'f32' },
    { name: 'mask', access: 'read', type: 'u32' },
    { name: 'rows', access: 'read', type: 'u32' },
    { name: 'probs', access: 'read_write', type: 'f32' },
  ],
  params: { T: u32, H: u32, KV: u32, D: u32, b: u32, R: u32, maskStride: u32, hasMask: u32, scale: 'f32' },
});

export interface AttentionOptions {
  /**
   * Key-padding mask [B, ≥ keys] u32, 1 = real token, 0 = padding (right- or left-padded batches).
   * As model.py's causal_mask, a query always sees its own position, so a padding row is never empty.
   */
  keyMask?: Tensor;
  /** Logit scale; default 1 / sqrt(D). */
  scale?: number;
}

export interface AttentionDecodeOptions extends AttentionOptions {
  /** Keys per split of the cache (multiple of 8); default: split only when the step has few workgroups. */
  keysPerSplit?: number;
}

interface Dims { B: number; T: number; H: number; KV: number; D: number }

function shape4(fn: string, what: string, t: Tensor): [number, number, number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 4) throw new Error(`${fn}: ${what} ${t.describe()} must be an f32 [B, T, heads, D]`);
  return t.shape as unknown as [number, number, number, number];
}

/** Checks q [B, T, H, D] against k, v [B, rows, KV, D] (rows = T, or the cache's length). */
function dims(fn: string, q: Tensor, k: Tensor, v: Tensor, kvRows?: number): Dims & { rows: number } {
  const [B, T, H, D] = shape4(fn, 'q', q);
  const [kb, kr, KV, kd] = shape4(fn, 'k', k);
  shape4(fn, 'v', v);
  if (v.shape.join() !== k.shape.join()) throw new Error(`${fn}: v ${v.describe()} should match k ${k.describe()}`);
  if (kb !== B || kd !== D || (kvRows === undefined && kr !== T)) {
    throw new Error(`${fn}: k ${k.describe()} should be [${B}, ${kvRows === undefined ? T : 'L'}, KV, ${D}] for q ${q.describe()}`);
  }
  if (KV === 0 || H % KV !== 0) throw new Error(`${fn}: ${H} query heads (q ${q.describe()}) are not a multiple of ${KV} kv heads (k ${k.describe()})`);
  if (D < 1 || D > MAX_HEAD_DIM) throw new Error(`${fn}: head_dim ${D} of q ${q.describe()} must be in 1..${MAX_HEAD_DIM}`);
  if (Math.ceil((T * H) / KV / ROW_BLOCK) > MAX_GRID || B > MAX_GRID) throw new Error(`${fn}: q ${q.describe()} is too large for one dispatch`);
  return { B, T, H, KV, D, rows: kr };
}

function scaleOf(fn: string, D: number, scale: number | undefined): number {
  const s = scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(s)) throw new Error(`${fn}: scale ${scale} must be a finite number`);
  return s;
}

/** The mask binding and its uniforms; without a mask, a placeholder the kernels never read. */
function maskOf(fn: string, rt: Runtime, B: number, keys: number, mask: Tensor | undefined) {
  if (!mask) return { tensor: rt.empty([1], 'u32', 'attention.no_mask'), own: true, maskStride: 0, hasMask: 0 };
  if (mask.dtype !== 'u32' || mask.shape.length !== 2 || mask.shape[0] !== B || mask.shape[1] < keys) {
    throw new Error(`${fn}: keyMask ${mask.describe()} must be a u32 [${B}, ≥${keys}] (1 = token, 0 = padding)`);
  }
  return { tensor: mask, own: false, maskStride: mask.shape[1], hasMask: 1 };
}

/** Splits of `keys` between workgroups: one unless the step has too few workgroups to fill a GPU. */
function splitLength(keys: number, workgroups: number, keysPerSplit: number | undefined): number {
  if (keysPerSplit !== undefined) {
    if (!Number.isInteger(keysPerSplit) || keysPerSplit < KEY_STEP || keysPerSplit % KEY_STEP !== 0) {
      throw new Error(`attentionDecode: keysPerSplit ${keysPerSplit} must be a positive multiple of ${KEY_STEP}`);
    }
  }
  const want = keysPerSplit ?? (workgroups >= BUSY_WORKGROUPS ? keys : KEYS_PER_SPLIT);
  const len = Math.max(want, Math.ceil(keys / MAX_SPLITS));
  return Math.max(KEY_STEP, Math.ceil(len / KEY_STEP) * KEY_STEP);
}

interface ForwardLaunch extends Dims {
  past: number; kvRows: number; scale: number; mask: ReturnType<typeof maskOf>;
  splitLen: number; out: Tensor; lse: Tensor;
}

function launchForward(rt: Runtime, q: Tensor, k: Tensor, v: Tensor, f: ForwardLaunch): void {
  const S = f.past + f.T;
  const splits = Math.ceil(S / f.splitLen);
  rt.dispatch(
    FORWARD,
    {},
    {
      B: f.B, T: f.T, H: f.H, KV: f.KV, D: f.D, past: f.past, S, kvRows: f.kvRows,
      maskStride: f.mask.maskStride, hasMask: f.mask.hasMask, splitLen: f.splitLen, scale: f.scale,
    },
    [q, k, v, f.mask.tensor, f.out, f.lse],
    [Math.ceil((f.T * f.H) / f.KV / ROW_BLOCK), f.KV * splits, f.B],
  );
}

// q [B, T, H, D], k/v [B, T, KV, D] → out [B, T, H, D], lse [B, H, T] (saved for backward).
export function attentionForward(
  rt: Runtime, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {},
): { out: Tensor; lse: Tensor } {
  const fn = 'attentionForward';
  const d = dims(fn, q, k, v);
  const mask = maskOf(fn, rt, d.B, d.T, opts.keyMask);
  const out = rt.empty(q.shape, 'f32', 'attention.out');
  const lse = rt.empty([d.B, d.H, d.T], 'f32', 'attention.lse');
  launchForward(rt, q, k, v, { ...d, past: 0, kvRows: d.T, scale: scaleOf(fn, d.D, opts.scale), mask, splitLen: Math.max(d.T, 1), out, lse });
  if (mask.own) mask.tensor.dispose();
  return { out, lse };
}

// q, out, dout [B, T, H, D], k/v [B, T, KV, D], lse [B, H, T] → dq [B, T, H, D], dk/dv [B, T, KV, D].
// Differentiates attentionForward's out = softmax(scale · q kᵀ + mask) v (attention_backward.wgsl).
export function attentionBackward(
  rt: Runtime, q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, dout: Tensor, opts: AttentionOptions = {},
): { dq: Tensor; dk: Tensor; dv: Tensor } {
  const fn = 'attentionBackward';
  const d = dims(fn, q, k, v);
  for (const [what, t] of [['out', out], ['dout', dout]] as const) {
    if (t.dtype !== 'f32' || t.shape.join() !== q.shape.join()) throw new Error(`${fn}: ${what} ${t.describe()} should match q ${q.describe()}`);
  }
  if (lse.dtype !== 'f32' || lse.size !== d.B * d.H * d.T) throw new Error(`${fn}: lse ${lse.describe()} should be [${d.B}, ${d.H}, ${d.T}]:f32`);
  const mask = maskOf(fn, rt, d.B, d.T, opts.keyMask);
  const params = {
    B: d.B, T: d.T, H: d.H, KV: d.KV, D: d.D, maskStride: mask.maskStride, hasMask: mask.hasMask,
    scale: scaleOf(fn, d.D, opts.scale),
  };
  const stats = rt.empty([d.B, d.H, d.T, 2], 'f32', 'attention.stats'); // (lse, delta) per row
  const unused = rt.empty([1], 'f32', 'attention.unused');
  const dq = rt.empty(q.shape, 'f32', 'attention.dq');
  const dk = rt.empty(k.shape, 'f32', 'attention.dk');
  const dv = rt.empty(v.shape, 'f32', 'attention.dv');
  const inputs = [q, k, v, mask.tensor, dout, stats];
  rt.dispatch(DELTA, {}, params, [...inputs, out, lse], rowGrid(Math.ceil((d.B * d.T * d.H) / 64), fn));
  rt.dispatch(DQ, {}, params, [...inputs, dq, unused], [Math.ceil((d.T * d.H) / d.KV / ROW_BLOCK), d.KV, d.B]);
  rt.dispatch(DKDV, {}, params, [...inputs, dk, dv], [Math.ceil(d.T / ROW_BLOCK), d.KV, d.B]);
  for (const t of [stats, unused]) t.dispose();
  if (mask.own) mask.tensor.dispose();
  return { dq, dk, dv };
}

function cacheDims(fn: string, cacheK: Tensor, cacheV: Tensor): [number, number, number, number] {
  const s = shape4(fn, 'cacheK', cacheK);
  if (cacheV.dtype !== 'f32' || cacheV.shape.join() !== cacheK.shape.join()) throw new Error(`${fn}: cacheV ${cacheV.describe()} should match cacheK ${cacheK.describe()}`);
  return s;
}

function checkPast(fn: string, past: number, rows: number, maxLen: number): void {
  if (!Number.isInteger(past) || past < 0) throw new Error(`${fn}: cache length ${past} must be a non-negative integer`);
  if (past + rows > maxLen) throw new Error(`${fn}: ${past} cached + ${rows} new positions exceed the cache's ${maxLen}`);
}

// cacheK/cacheV [B, L, KV, D] ← k/v [B, Tn, KV, D] at positions past .. past + Tn − 1 (buffer copies).
export function appendKv(rt: Runtime, cacheK: Tensor, cacheV: Tensor, k: Tensor, v: Tensor, past: number): void {
  const fn = 'appendKv';
  const [B, L, KV, D] = cacheDims(fn, cacheK, cacheV);
  const [kb, Tn, kkv, kd] = shape4(fn, 'k', k);
  if (kb !== B || kkv !== KV || kd !== D) throw new Error(`${fn}: k ${k.describe()} should be [${B}, T, ${KV}, ${D}] for cache ${cacheK.describe()}`);
  if (v.dtype !== 'f32' || v.shape.join() !== k.shape.join()) throw new Error(`${fn}: v ${v.describe()} should match k ${k.describe()}`);
  checkPast(fn, past, Tn, L);
  const row = KV * D * 4; // bytes per position
  for (let b = 0; b < B; b++) {
    rt.copy(k, cacheK, b * Tn * row, (b * L + past) * row, Tn * row);
    rt.copy(v, cacheV, b * Tn * row, (b * L + past) * row, Tn * row);
  }
}

// q [B, Tn, H, D] at positions past .. past + Tn − 1, whose k/v appendKv already wrote; cacheK/cacheV
// [B, L, KV, D] → out [B, Tn, H, D]. The cache length is a uniform: a growing cache compiles nothing.
export function attentionDecode(
  rt: Runtime, q: Tensor, cacheK: Tensor, cacheV: Tensor, past: number, opts: AttentionDecodeOptions = {},
): Tensor {
  const fn = 'attentionDecode';
  const [, L] = cacheDims(fn, cacheK, cacheV);
  const d = dims(fn, q, cacheK, cacheV, L);
  checkPast(fn, past, d.T, L);
  const S = past + d.T;
  const mask = maskOf(fn, rt, d.B, S, opts.keyMask);
  const scale = scaleOf(fn, d.D, opts.scale);
  const workgroups = Math.ceil((d.T * d.H) / d.KV / ROW_BLOCK) * d.KV * d.B;
  const splitLen = splitLength(S, workgroups, opts.keysPerSplit);
  const splits = Math.ceil(S / splitLen);
  const out = rt.empty(q.shape, 'f32', 'attention.out');
  if (splits === 1) {
    const lse = rt.empty([d.B, d.H, d.T], 'f32', 'attention.lse');
    launchForward(rt, q, cacheK, cacheV, { ...d, past, kvRows: L, scale, mask, splitLen, out, lse });
    lse.dispose();
  } else {
    const parts = rt.empty([splits, ...q.shape], 'f32', 'attention.parts');
    const lseParts = rt.empty([splits, d.B, d.H, d.T], 'f32', 'attention.lse_parts');
    launchForward(rt, q, cacheK, cacheV, { ...d, past, kvRows: L, scale, mask, splitLen, out: parts, lse: lseParts });
    rt.dispatch(COMBINE, {}, { B: d.B, T: d.T, H: d.H, D: d.D, splits }, [parts, lseParts, out], rowGrid(Math.ceil(q.size / 64), fn));
    for (const t of [parts, lseParts]) t.dispose();
  }
  if (mask.own) mask.tensor.dispose();
  return out;
}

// q [B, T, H, D], k [B, T, KV, D] → probs [H, R, T] of batch row `batch` at query rows `rows` (R of them):
// attention maps for distillation losses and the UI. Small and on request only: never [B, H, T, T].
export function attentionProbs(
  rt: Runtime, q: Tensor, k: Tensor, batch: number, rows: readonly number[], opts: AttentionOptions = {},
): Tensor {
  const fn = 'attentionProbs';
  const d = dims(fn, q, k, k);
  if (!Number.isInteger(batch) || batch < 0 || batch >= d.B) throw new Error(`${fn}: batch row ${batch} is not in 0..${d.B - 1} of q ${q.describe()}`);
  const bad = rows.find((t) => !Number.isInteger(t) || t < 0 || t >= d.T);
  if (bad !== undefined) throw new Error(`${fn}: query row ${bad} is not in 0..${d.T - 1} of q ${q.describe()}`);
  if (rows.length > MAX_GRID) throw new Error(`${fn}: ${rows.length} query rows exceed one dispatch`);
  const mask = maskOf(fn, rt, d.B, d.T, opts.keyMask);
  const probs = rt.empty([d.H, rows.length, d.T], 'f32', 'attention.probs');
  if (rows.length > 0) {
    const rowsT = rt.upload(Uint32Array.from(rows), [rows.length], 'u32', 'attention.rows');
    rt.dispatch(
      PROBS,
      {},
      {
        T: d.T, H: d.H, KV: d.KV, D: d.D, b: batch, R: rows.length,
        maskStride: mask.maskStride, hasMask: mask.hasMask, scale: scaleOf(fn, d.D, opts.scale),
      },
      [q, k, mask.tensor, rowsT, probs],
      [rows.length, d.H],
    );
    rowsT.dispose();
  }
  if (mask.own) mask.tensor.dispose();
  return probs;
}

/** A key-padding mask [B, keys] (u32) from right-padded lengths: key j of row b is real iff j < lengths[b]. */
export function keyMaskFromLengths(rt: Runtime, lengths: ArrayLike<number>, keys: number): Tensor {
  const m = new Uint32Array(lengths.length * keys);
  for (let b = 0; b < lengths.length; b++) {
    const n = lengths[b];
    if (!Number.isInteger(n) || n < 0 || n > keys) throw new Error(`keyMaskFromLengths: lengths[${b}] = ${n} is not in 0..${keys}`);
    m.fill(1, b * keys, b * keys + n);
  }
  return rt.upload(m, [lengths.length, keys], 'u32', 'attention.key_mask');
}

/**
 * safetensors, the Hugging Face weight format:
 *   [u64 little-endian N][N bytes of JSON header, space-padded][data]
 *   header = { NAME: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string} }
 * offsets are relative to the start of the data section, and the tensors must tile it exactly.
 *
 * Reading is lazy: `open` reads the header only (ranged reads when the FileSource can), tensor bytes
 * are read on demand. Sharded checkpoints (`model.safetensors.index.json`) are read by `Checkpoint`.
 * Typed arrays are little-endian here, as on every platform we run on.
 */
import { FormatError, MissingFileError, MissingTensorError } from './errors.ts';
import { type FileSource, joinPath, readJson, readRangeOf } from './files.ts';

// ---------------------------------------------------------------------------------------------
// dtypes

/** Byte size of every dtype the format defines (sub-byte F4/F6 are not listed: we reject them). */
export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  F8_E8M0: 1,
} as const;
export type Dtype = keyof typeof DTYPE_BYTES;

/** dtypes `read` returns; the others are parsed (so offsets are checked) but refused on read. */
export const READABLE_DTYPES = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'] as const;
export type ReadableDtype = (typeof READABLE_DTYPES)[number];
export type FloatDtype = 'F32' | 'F16' | 'BF16' | 'F64';
export type WritableDtype = 'F32' | 'F16' | 'BF16';

function isDtype(s: string): s is Dtype {
  return Object.hasOwn(DTYPE_BYTES, s);
}

function isReadable(d: Dtype): d is ReadableDtype {
  return (READABLE_DTYPES as readonly string[]).includes(d);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------
// fp16 / bf16 conversion (bit patterns in Uint16Array)

let halfToFloatTable: Uint32Array | null = null;

/** f32 bit pattern of an f16 bit pattern; exact (every f16 is an f32). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (man << 13)) >>> 0; // inf, NaN (payload kept)
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (man << 13)) >>> 0; // 112 = 127 − 15
  if (man === 0) return sign >>> 0;
  // Subnormal man·2^-24: shift until the implicit bit (bit 10) appears, lowering the exponent.
  let e = 113; // exponent field of 2^-14 in f32
  while ((man & 0x400) === 0) {
    man <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((man & 0x3ff) << 13)) >>> 0;
}

function halfTable(): Uint32Array {
  if (!halfToFloatTable) {
    halfToFloatTable = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) halfToFloatTable[h] = halfToFloatBits(h);
  }
  return halfToFloatTable;
}

/** f32 bits → f16 bits, round to nearest even; NaN → quiet NaN 0x7e00 with its sign, as PyTorch does. */
export function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let man = x & 0x7fffff;
  if (exp === 0xff) return sign | (man !== 0 ? 0x7e00 : 0x7c00);
  const e = exp - 127; // unbiased
  if (e > 15) return sign | 0x7c00; // ≥ 2^16 overflows
  if (e >= -14) {
    // Normal f16: keep 10 of 23 mantissa bits; a carry out of the mantissa bumps the exponent
    // (and 65520 and above become inf), which is exactly IEEE rounding.
    let h = ((e + 15) << 10) | (man >>> 13);
    const rest = man & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  if (e < -25) return sign; // below half the smallest subnormal (2^-25): ±0
  // Subnormal f16 = round(1.man · 2^(e+24)) units of 2^-24.
  man |= 0x800000;
  const shift = -e - 1; // 14..24
  let h = man >>> shift;
  const rest = man & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) !== 0)) h++;
  return sign | h;
}

/** f32 bits → bf16 bits, round to nearest even; NaN → 0x7fc0 as PyTorch 2 does. */
export function f32BitsToBf16(x: number): number {
  if ((x & 0x7fffffff) >>> 0 > 0x7f800000) return 0x7fc0;
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

export function f16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const table = halfTable();
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = table[src[i]];
  return out;
}

export function bf16ToF32(src: Uint16Array, out = new Float32Array(src.length)): Float32Array {
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

export function f32ToF16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16(bits[i]);
  return out;
}

export function f32ToBf16(src: Float32Array, out = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = bits[i];
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// header

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Byte range inside the data section, [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  file: string;
  /** Absolute byte offset of the data section: 8 + header length. */
  dataStart: number;
  dataLength: number;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

const MAX_HEADER_BYTES = 100_000_000; // the reference implementation's limit

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Header length from the first 8 bytes, checked against the file size. */
export function parseHeaderLength(first8: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || first8.length < 8) {
    throw new FormatError({ file }, `truncated: ${fileSize} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(first8.buffer, first8.byteOffset, 8);
  const n = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  if (n > fileSize - 8) {
    throw new FormatError({ file }, `header length ${n} is larger than the file (${fileSize} bytes)`);
  }
  if (n > MAX_HEADER_BYTES) throw new FormatError({ file }, `header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
  return n;
}

/** Parses and checks the JSON header: dtypes, shapes, sizes, and that the tensors tile the data exactly. */
export function parseSafetensorsHeader(
  json: Uint8Array | string,
  file: string,
  dataStart: number,
  dataLength: number,
): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof json === 'string' ? json : new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new FormatError({ file }, `header is not JSON: ${(e as Error).message}`);
  }
  if (!isRecord(raw)) throw new FormatError({ file }, 'header is not a JSON object');

  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorEntry>();
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (!isRecord(value)) throw new FormatError({ file, field: name }, '"__metadata__" must be an object');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') {
          throw new FormatError({ file, field: `__metadata__.${k}` }, `"__metadata__.${k}" must be a string`);
        }
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseEntry(name, value, file));
  }
  checkTiling([...tensors.values()], file, dataLength);
  return { file, dataStart, dataLength, tensors, metadata };
}

function parseEntry(name: string, value: unknown, file: string): TensorEntry {
  const where = { file, tensor: name };
  if (!isRecord(value)) throw new FormatError(where, 'header entry is not an object');
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string' || !isDtype(dtype)) {
    throw new FormatError(
      { ...where, field: 'dtype' },
      `unsupported dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_BYTES).join(', ')})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new FormatError({ ...where, field: 'shape' }, `shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw new FormatError(
      { ...where, field: 'data_offsets' },
      `data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const expected = numel(shape as number[]) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new FormatError(
      { ...where, field: 'data_offsets' },
      `byte size ${end - begin} ≠ shape [${shape.join(', ')}] × ${dtype} (${DTYPE_BYTES[dtype]} bytes) = ${expected}`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** The tensors must cover [0, dataLength) with no gap and no overlap, as the reference reader demands. */
function checkTiling(entries: TensorEntry[], file: string, dataLength: number): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorEntry | null = null;
  for (const t of sorted) {
    if (t.begin < cursor) {
      throw new FormatError(
        { file, tensor: t.name, field: 'data_offsets' },
        `data_offsets [${t.begin}, ${t.end}] overlap tensor ${previous?.name} [${previous?.begin}, ${previous?.end}]`,
      );
    }
    if (t.begin > cursor) {
      throw new FormatError(
        { file, tensor: t.name, field: 'data_offsets' },
        `data_offsets are not contiguous: bytes [${cursor}, ${t.begin}) of the data belong to no tensor` +
          (previous ? ` (after tensor ${previous.name})` : ''),
      );
    }
    if (t.end > dataLength) {
      throw new FormatError(
        { file, tensor: t.name, field: 'data_offsets' },
        `truncated file: the tensor ends at data byte ${t.end} but the data section has only ${dataLength} bytes`,
      );
    }
    cursor = t.end;
    previous = t;
  }
  if (cursor !== dataLength) {
    throw new FormatError({ file }, `${dataLength - cursor} bytes after the last tensor belong to no tensor`);
  }
}

// ---------------------------------------------------------------------------------------------
// reading

export type TensorArray =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int32Array
  | BigInt64Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** A tensor in its stored dtype; F16/BF16 as raw bit patterns. */
export interface TensorData {
  name: string;
  dtype: ReadableDtype;
  shape: number[];
  data: TensorArray;
}

/** A typed array over `bytes`, copying when the offset is misaligned for the element type. */
function view<T>(bytes: Uint8Array, size: number, make: (b: ArrayBufferLike, off: number, n: number) => T): T {
  const aligned = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return make(aligned.buffer, aligned.byteOffset, aligned.byteLength / size);
}

function typed(entry: TensorEntry, bytes: Uint8Array, file: string): TensorArray {
  switch (entry.dtype) {
    case 'F32': return view(bytes, 4, (b, o, n) => new Float32Array(b, o, n));
    case 'F64': return view(bytes, 8, (b, o, n) => new Float64Array(b, o, n));
    case 'F16':
    case 'BF16': return view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
    case 'I64': return view(bytes, 8, (b, o, n) => new BigInt64Array(b, o, n));
    case 'I32': return view(bytes, 4, (b, o, n) => new Int32Array(b, o, n));
    case 'I16': return view(bytes, 2, (b, o, n) => new Int16Array(b, o, n));
    case 'I8': return new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    case 'U8':
    case 'BOOL': return bytes;
    default:
      throw new FormatError(
        { file, tensor: entry.name, field: 'dtype' },
        `unsupported dtype ${entry.dtype} (readable: ${READABLE_DTYPES.join(', ')})`,
      );
  }
}

/** Converts a floating tensor to f32; integer dtypes are refused (use `toInt32`). */
export function toFloat32(t: TensorData, file: string): Float32Array {
  switch (t.dtype) {
    case 'F32': return (t.data as Float32Array).slice();
    case 'F16': return f16ToF32(t.data as Uint16Array);
    case 'BF16': return bf16ToF32(t.data as Uint16Array);
    case 'F64': return Float32Array.from(t.data as Float64Array);
    default:
      throw new FormatError({ file, tensor: t.name, field: 'dtype' }, `dtype ${t.dtype} is not a float type (F32, F16, BF16, F64)`);
  }
}

/** Converts an integer/bool tensor to i32; I64 values outside the i32 range are refused. */
export function toInt32(t: TensorData, file: string): Int32Array {
  switch (t.dtype) {
    case 'I32': return (t.data as Int32Array).slice();
    case 'I16':
    case 'I8':
    case 'U8':
    case 'BOOL': return Int32Array.from(t.data as Int16Array | Int8Array | Uint8Array);
    case 'I64': {
      const src = t.data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (v > 2147483647n || v < -2147483648n) {
          throw new FormatError({ file, tensor: t.name }, `I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return out;
    }
    default:
      throw new FormatError({ file, tensor: t.name, field: 'dtype' }, `dtype ${t.dtype} is not an integer type`);
  }
}

/** One .safetensors file: header parsed on open, tensor bytes read on demand. */
export class SafetensorsFile {
  private constructor(
    readonly header: SafetensorsHeader,
    private readonly readData: (offset: number, length: number) => Promise<Uint8Array>,
  ) {}

  /** Reads only the header when the source supports ranged reads, otherwise the whole file once. */
  static async open(src: FileSource, path: string): Promise<SafetensorsFile> {
    if (!(await src.exists(path))) throw new MissingFileError(path);
    if (src.readRange && src.size) {
      const size = await src.size(path);
      const n = parseHeaderLength(await readRangeOf(src, path, 0, 8), size, path);
      const header = parseSafetensorsHeader(await readRangeOf(src, path, 8, n), path, 8 + n, size - 8 - n);
      return new SafetensorsFile(header, (offset, length) => readRangeOf(src, path, offset, length));
    }
    return SafetensorsFile.fromBytes(await src.readBytes(path), path);
  }

  static fromBytes(bytes: Uint8Array, path = '<memory>'): SafetensorsFile {
    const n = parseHeaderLength(bytes.subarray(0, 8), bytes.byteLength, path);
    const header = parseSafetensorsHeader(bytes.subarray(8, 8 + n), path, 8 + n, bytes.byteLength - 8 - n);
    return new SafetensorsFile(header, async (offset, length) => bytes.subarray(offset, offset + length));
  }

  get file(): string {
    return this.header.file;
  }

  get tensors(): ReadonlyMap<string, TensorEntry> {
    return this.header.tensors;
  }

  names(): string[] {
    return [...this.header.tensors.keys()];
  }

  has(name: string): boolean {
    return this.header.tensors.has(name);
  }

  entry(name: string): TensorEntry {
    const e = this.header.tensors.get(name);
    if (!e) throw new MissingTensorError(this.file, name);
    return e;
  }

  /** The stored bytes; may share memory with the file's buffer. */
  async bytes(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    const bytes = await this.readData(this.header.dataStart + e.begin, e.end - e.begin);
    if (bytes.byteLength !== e.end - e.begin) {
      throw new FormatError(
        { file: this.file, tensor: name },
        `truncated file: read ${bytes.byteLength} of ${e.end - e.begin} bytes (did the file change?)`,
      );
    }
    return bytes;
  }

  /** The tensor in its stored dtype; the array may share memory with the file's buffer. */
  async read(name: string): Promise<TensorData> {
    const e = this.entry(name);
    if (!isReadable(e.dtype)) typed(e, new Uint8Array(0), this.file); // throws the dtype error
    const data = typed(e, await this.bytes(name), this.file);
    return { name, dtype: e.dtype as ReadableDtype, shape: e.shape, data };
  }

  async float32(name: string): Promise<Float32Array> {
    return toFloat32(await this.read(name), this.file);
  }

  async int32(name: string): Promise<Int32Array> {
    return toInt32(await this.read(name), this.file);
  }
}

// ---------------------------------------------------------------------------------------------
// sharded checkpoints

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

export interface CheckpointTensor extends TensorEntry {
  /** The shard holding it. */
  file: string;
}

/** A folder's weights: `model.safetensors`, or shards listed by `model.safetensors.index.json`. */
export class Checkpoint {
  private constructor(
    /** What messages name: the single file or the index. */
    readonly file: string,
    readonly shards: ReadonlyMap<string, SafetensorsFile>,
    readonly tensors: ReadonlyMap<string, CheckpointTensor>,
  ) {}

  static async open(src: FileSource, dir: string): Promise<Checkpoint> {
    const indexPath = joinPath(dir, INDEX_FILE);
    const singlePath = joinPath(dir, SINGLE_FILE);
    if (await src.exists(indexPath)) return Checkpoint.openSharded(src, dir, indexPath);
    if (!(await src.exists(singlePath))) throw new MissingFileError(singlePath, `nor ${INDEX_FILE}`);
    const st = await SafetensorsFile.open(src, singlePath);
    const tensors = new Map([...st.tensors].map(([n, e]) => [n, { ...e, file: singlePath }]));
    return new Checkpoint(singlePath, new Map([[singlePath, st]]), tensors);
  }

  private static async openSharded(src: FileSource, dir: string, indexPath: string): Promise<Checkpoint> {
    const index = await readJson(src, indexPath);
    const weightMap = isRecord(index) ? index.weight_map : undefined;
    if (!isRecord(weightMap)) throw new FormatError({ file: indexPath, field: 'weight_map' }, '"weight_map" must be an object');
    const shards = new Map<string, SafetensorsFile>();
    const tensors = new Map<string, CheckpointTensor>();
    for (const [name, shard] of Object.entries(weightMap)) {
      if (typeof shard !== 'string') {
        throw new FormatError({ file: indexPath, tensor: name, field: 'weight_map' }, 'shard file name must be a string');
      }
      const path = joinPath(dir, shard);
      let st = shards.get(path);
      if (!st) {
        if (!(await src.exists(path))) throw new MissingFileError(path, `listed in ${indexPath}`);
        st = await SafetensorsFile.open(src, path);
        shards.set(path, st);
      }
      tensors.set(name, { ...st.entry(name), file: path });
    }
    return new Checkpoint(indexPath, shards, tensors);
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  private shardOf(name: string): SafetensorsFile {
    const t = this.tensors.get(name);
    if (!t) throw new MissingTensorError(this.file, name);
    return this.shards.get(t.file)!;
  }

  async read(name: string): Promise<TensorData> {
    return this.shardOf(name).read(name);
  }

  async float32(name: string): Promise<Float32Array> {
    return this.shardOf(name).float32(name);
  }

  async bytes(name: string): Promise<Uint8Array> {
    return this.shardOf(name).bytes(name);
  }
}

// ---------------------------------------------------------------------------------------------
// writing

export interface TensorToWrite {
  dtype: WritableDtype;
  shape: readonly number[];
  /** f32 values (converted to `dtype` with round-to-nearest-even), or F16/BF16 bit patterns. */
  data: Float32Array | Uint16Array;
}

function encodeData(name: string, t: TensorToWrite): Uint8Array {
  const n = numel(t.shape);
  if (t.data.length !== n) {
    throw new FormatError({ file: '<write>', tensor: name }, `data has ${t.data.length} values but shape [${t.shape.join(', ')}] needs ${n}`);
  }
  let out: Float32Array | Uint16Array;
  if (t.data instanceof Float32Array) {
    out = t.dtype === 'F32' ? t.data : t.dtype === 'F16' ? f32ToF16(t.data) : f32ToBf16(t.data);
  } else {
    if (t.dtype === 'F32') throw new FormatError({ file: '<write>', tensor: name }, 'F32 data must be a Float32Array');
    out = t.data;
  }
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Serialises tensors as HF does: data ordered by dtype size (largest first, so every tensor is
 * aligned), then by name; header keys in the same order after `__metadata__`; the header padded
 * with spaces to a multiple of 8 bytes.
 */
export function writeSafetensors(
  tensors: Record<string, TensorToWrite> | ReadonlyMap<string, TensorToWrite>,
  metadata: Record<string, string> = { format: 'pt' },
): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)) as [string, TensorToWrite][];
  entries.sort(([an, a], [bn, b]) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0));
  const blobs = entries.map(([name, t]) => encodeData(name, t));

  // Built by hand: a JS object would move integer-like names ahead of the others.
  const parts = [`"__metadata__":${JSON.stringify(metadata)}`];
  let offset = 0;
  entries.forEach(([name, t], i) => {
    const end = offset + blobs[i].byteLength;
    parts.push(`${JSON.stringify(name)}:${JSON.stringify({ dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, end] })}`);
    offset = end;
  });
  let header = new TextEncoder().encode(`{${parts.join(',')}}`);
  const pad = (8 - (header.byteLength % 8)) % 8;
  if (pad) header = new TextEncoder().encode(`{${parts.join(',')}}${' '.repeat(pad)}`);

  const out = new Uint8Array(8 + header.byteLength + offset);
  new DataView(out.buffer).setUint32(0, header.byteLength, true); // < 2^32: the high word stays 0
  out.set(header, 8);
  let at = 8 + header.byteLength;
  for (const blob of blobs) {
    out.set(blob, at);
    at += blob.byteLength;
  }
  return out;
}

/**
 * Splits tensors into shards of at most `maxShardBytes` (a bigger tensor gets a shard of its own)
 * named `model-0000i-of-0000n.safetensors`, plus the index; one shard is written as `model.safetensors`.
 */
export function writeShardedSafetensors(
  tensors: Record<string, TensorToWrite>,
  maxShardBytes: number,
  metadata: Record<string, string> = { format: 'pt' },
): Map<string, Uint8Array> {
  const names = Object.keys(tensors).sort();
  const groups: string[][] = [];
  let bytes = 0;
  let total = 0;
  for (const name of names) {
    const size = numel(tensors[name].shape) * DTYPE_BYTES[tensors[name].dtype];
    total += size;
    if (groups.length === 0 || (bytes > 0 && bytes + size > maxShardBytes)) {
      groups.push([]);
      bytes = 0;
    }
    groups[groups.length - 1].push(name);
    bytes += size;
  }
  const pick = (group: string[]) => Object.fromEntries(group.map((n) => [n, tensors[n]]));
  if (groups.length <= 1) return new Map([[SINGLE_FILE, writeSafetensors(pick(groups[0] ?? []), metadata)]]);

  const files = new Map<string, Uint8Array>();
  const weightMap: Record<string, string> = {};
  const count = String(groups.length).padStart(5, '0');
  groups.forEach((group, i) => {
    const file = `model-${String(i + 1).padStart(5, '0')}-of-${count}.safetensors`;
    files.set(file, writeSafetensors(pick(group), metadata));
    for (const n of group) weightMap[n] = file;
  });
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  files.set(INDEX_FILE, new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n'));
  return files;
}

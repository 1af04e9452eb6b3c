/**
 * An ONNX writer: protobuf varints and length-delimited fields, enough of ModelProto for a decoder
 * graph — nodes in any domain, symbolic dimensions, raw-data initializers of the element types we
 * export, and external data (tensor bytes in a side file, the ecosystem's answer to protobuf's 2 GB
 * limit). Field numbers are those of onnx/onnx.proto:
 *   ModelProto        ir_version=1 producer_name=2 producer_version=3 graph=7 opset_import=8
 *   OperatorSetIdProto domain=1 version=2
 *   GraphProto        node=1 name=2 initializer=5 input=11 output=12
 *   NodeProto         input=1 output=2 name=3 op_type=4 attribute=5 domain=7
 *   AttributeProto    name=1 f=2 i=3 s=4 ints=8 type=20
 *   ValueInfoProto    name=1 type=2;  TypeProto tensor_type=1;  TypeProto.Tensor elem_type=1 shape=2
 *   TensorShapeProto  dim=1;  Dimension dim_value=1 dim_param=2
 *   TensorProto       dims=1 data_type=2 name=8 raw_data=9 external_data=13 data_location=14
 *   StringStringEntryProto key=1 value=2
 */

/** TensorProto.DataType values used here. */
export const ElemType = { float: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10 } as const;
export type ElemTypeName = keyof typeof ElemType;

export interface ValueInfo {
  name: string;
  type: ElemTypeName;
  /** Numbers are fixed sizes; strings are symbolic (dynamic) dimensions. */
  shape: readonly (number | string)[];
}

/** Row-major, little-endian bytes (typed arrays are little-endian on every platform we run). */
export type InitializerData = Float32Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array;

export interface Initializer {
  name: string;
  type: ElemTypeName;
  dims: readonly number[];
  /** float16 travels as its Uint16Array bit patterns. */
  data: InitializerData;
}

export type AttrValue = number | readonly number[] | string | { float: number };

export interface NodeSpec {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  /** Operator domain: '' is the default ONNX domain; 'com.microsoft' for ORT's contrib ops. */
  domain?: string;
  attrs?: Readonly<Record<string, AttrValue>>;
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  initializers?: readonly Initializer[];
}

export interface ModelOptions {
  /** Default-domain opset (17 unless said). */
  opset?: number;
  /** Other domains the nodes use, with their versions (e.g. com.microsoft: 1). */
  domains?: Readonly<Record<string, number>>;
  irVersion?: number;
  producer?: string;
  /**
   * Initializers of at least this many bytes go to `externalData.file` beside the model
   * (absent: everything inline).
   */
  externalData?: { file: string; minBytes: number };
}

export interface EncodedModel {
  /** The ModelProto, as chunks (write them in order; `concat` joins them when one buffer is needed). */
  model: Uint8Array[];
  /** The external data file's chunks, when any initializer went there. */
  external: Uint8Array[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

const DATA_LOCATION_EXTERNAL = 1;
/** ORT maps external data page-aligned when it can; tensors start at multiples of this. */
const EXTERNAL_ALIGN = 4096;
/** protobuf's hard limit on one message. */
export const PROTO_LIMIT = 2 ** 31 - 1;

/** Appends protobuf fields to a list of byte chunks; nested messages adopt their chunks, never copy them. */
class ProtoWriter {
  chunks: Uint8Array[] = [];
  size = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }

  /** Unsigned LEB128 of a 64-bit value; negatives are written as their two's complement (10 bytes), as int64 requires. */
  private varint(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    while (v >= 0x80n) {
      out.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    out.push(Number(v));
    this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): this {
    if (!Number.isSafeInteger(value)) throw new Error(`onnx proto: field ${field} needs an integer, got ${value}`);
    this.key(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, WIRE_FIXED32);
    this.push(new Uint8Array(Float32Array.of(value).buffer));
    return this;
  }

  bytes(field: number, data: Uint8Array): this {
    this.key(field, WIRE_BYTES);
    this.varint(data.length);
    this.push(data);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    this.key(field, WIRE_BYTES);
    this.varint(inner.size);
    for (const c of inner.chunks) this.push(c);
    return this;
  }
}

/** Joins chunks into one buffer (for a model small enough to hold twice). */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ElemType[v.type]);
      tensor.message(2, (shape) => {
        for (const d of v.shape) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
      });
    }),
  );
}

function writeAttribute(w: ProtoWriter, name: string, value: AttrValue, where: string): void {
  w.string(1, name);
  if (typeof value === 'string') {
    w.string(4, value).int(20, ATTR_STRING);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`onnx proto: ${where} attribute ${name}=${value} is not an integer (wrap floats as {float: x})`);
    w.int(3, value).int(20, ATTR_INT);
  } else if ('float' in value) {
    w.float(2, value.float).int(20, ATTR_FLOAT);
  } else {
    // proto2 `repeated int64` without [packed]: one key per element (parsers accept both forms).
    for (const x of value) w.int(8, x);
    w.int(20, ATTR_INTS);
  }
}

const ARRAY_OF: Record<ElemTypeName, new (n: number) => InitializerData> = {
  float: Float32Array, uint8: Uint8Array, int8: Int8Array, int32: Int32Array, int64: BigInt64Array, bool: Uint8Array, float16: Uint16Array,
};

function checkInitializer(t: Initializer): void {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) throw new Error(`onnx proto: initializer ${t.name} has ${t.data.length} values for dims [${t.dims}]`);
  if (!(t.data instanceof ARRAY_OF[t.type])) throw new Error(`onnx proto: initializer ${t.name} is ${t.type} but holds a ${t.data.constructor.name}`);
}

/** Serialises a graph as an ONNX ModelProto (default opset 17 with IR version 8, the IR that opset 17 shipped with). */
export function encodeModel(graph: GraphSpec, opts: ModelOptions = {}): EncodedModel {
  const known = new Set([...graph.inputs.map((v) => v.name), ...(graph.initializers ?? []).map((t) => t.name)]);
  const domains = new Map(Object.entries({ '': opts.opset ?? 17, ...opts.domains }));
  graph.nodes.forEach((n, i) => {
    const where = `node ${i} (${n.op}${n.name ? ' ' + n.name : ''})`;
    if (!domains.has(n.domain ?? '')) throw new Error(`onnx proto: ${where} is in domain '${n.domain}', which the model does not import`);
    for (const x of n.inputs) if (x !== '' && !known.has(x)) throw new Error(`onnx proto: ${where} reads ${x}, which no earlier node, input or initializer defines`);
    for (const y of n.outputs) known.add(y);
  });
  for (const o of graph.outputs) if (!known.has(o.name)) throw new Error(`onnx proto: graph output ${o.name} is never produced`);

  const external: Uint8Array[] = [];
  let externalSize = 0;
  const writeInitializer = (w: ProtoWriter, t: Initializer) => {
    checkInitializer(t);
    for (const d of t.dims) w.int(1, d);
    w.int(2, ElemType[t.type]);
    w.string(8, t.name);
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (opts.externalData && bytes.length >= opts.externalData.minBytes) {
      const pad = (EXTERNAL_ALIGN - (externalSize % EXTERNAL_ALIGN)) % EXTERNAL_ALIGN;
      if (pad) external.push(new Uint8Array(pad));
      const offset = externalSize + pad;
      external.push(bytes);
      externalSize = offset + bytes.length;
      const entry = (key: string, value: string) => w.message(13, (e) => e.string(1, key).string(2, value));
      entry('location', opts.externalData.file);
      entry('offset', String(offset));
      entry('length', String(bytes.length));
      w.int(14, DATA_LOCATION_EXTERNAL);
    } else {
      w.bytes(9, bytes);
    }
  };

  const w = new ProtoWriter();
  w.int(1, opts.irVersion ?? 8);
  w.string(2, opts.producer ?? 'retort');
  w.message(7, (g) => {
    graph.nodes.forEach((n, i) => {
      g.message(1, (node) => {
        for (const x of n.inputs) node.string(1, x);
        for (const y of n.outputs) node.string(2, y);
        node.string(3, n.name ?? `${n.op}_${i}`);
        node.string(4, n.op);
        for (const [k, v] of Object.entries(n.attrs ?? {})) node.message(5, (a) => writeAttribute(a, k, v, `node ${i} (${n.op})`));
        if (n.domain) node.string(7, n.domain);
      });
    });
    g.string(2, graph.name);
    for (const t of graph.initializers ?? []) g.message(5, (tw) => writeInitializer(tw, t));
    for (const v of graph.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of graph.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  for (const [domain, version] of domains) w.message(8, (o) => o.string(1, domain).int(2, version));
  if (w.size > PROTO_LIMIT) {
    throw new Error(`onnx proto: the model is ${w.size} bytes, over protobuf's 2 GiB limit: write its weights as external data`);
  }
  return { model: w.chunks, external };
}

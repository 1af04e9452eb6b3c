/**
 * A tiny ONNX writer for benchmark graphs: protobuf varints and length-delimited fields, enough of
 * ModelProto to hold a few nodes, typed inputs/outputs and raw-data initializers. Field numbers are
 * those of onnx/onnx.proto (checked against the spec):
 *   ModelProto        ir_version=1 graph=7 opset_import=8 producer_name=2
 *   OperatorSetIdProto domain=1 version=2
 *   GraphProto        node=1 name=2 initializer=5 input=11 output=12
 *   NodeProto         input=1 output=2 name=3 op_type=4 attribute=5
 *   AttributeProto    name=1 f=2 i=3 s=4 floats=7 ints=8 type=20
 *   ValueInfoProto    name=1 type=2;  TypeProto tensor_type=1;  TypeProto.Tensor elem_type=1 shape=2
 *   TensorShapeProto  dim=1;  Dimension dim_value=1 dim_param=2
 *   TensorProto       dims=1 data_type=2 name=8 raw_data=9
 */

/** TensorProto.DataType values used here. */
export const ElemType = { float: 1, int32: 6, int64: 7 } as const;
export type ElemTypeName = keyof typeof ElemType;

export interface ValueInfo {
  name: string;
  type: ElemTypeName;
  /** Numbers are fixed sizes; strings are symbolic (dynamic) dimensions. */
  shape: readonly (number | string)[];
}

export interface Initializer {
  name: string;
  type: ElemTypeName;
  dims: readonly number[];
  /** Row-major, little-endian as the spec's raw_data requires (typed arrays are little-endian on every platform we run). */
  data: Float32Array | Int32Array | BigInt64Array;
}

export type AttrValue = number | readonly number[] | string | { float: number };

export interface NodeSpec {
  op: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  attrs?: Readonly<Record<string, AttrValue>>;
}

export interface GraphSpec {
  name: string;
  nodes: readonly NodeSpec[];
  inputs: readonly ValueInfo[];
  outputs: readonly ValueInfo[];
  initializers?: readonly Initializer[];
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;

/** Appends protobuf fields to a list of byte chunks; `finish()` copies them into one buffer, once. */
class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private size = 0;

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
    if (!Number.isSafeInteger(value)) throw new Error(`onnx-graph: field ${field} needs an integer, got ${value}`);
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

  /** A nested message: its chunks are framed and adopted, not copied (initializers can be hundreds of MB). */
  message(field: number, build: (w: ProtoWriter) => void): this {
    const inner = new ProtoWriter();
    build(inner);
    this.key(field, WIRE_BYTES);
    this.varint(inner.size);
    for (const c of inner.chunks) this.push(c);
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, ElemType[v.type]);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

function writeAttribute(w: ProtoWriter, name: string, value: AttrValue, where: string): void {
  w.string(1, name);
  if (typeof value === 'string') {
    w.string(4, value).int(20, ATTR_STRING);
  } else if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`onnx-graph: ${where} attribute ${name}=${value} is not an integer (wrap floats as {float: x})`);
    w.int(3, value).int(20, ATTR_INT);
  } else if ('float' in value) {
    w.float(2, value.float).int(20, ATTR_FLOAT);
  } else {
    // proto2 `repeated int64` without [packed]: one key per element (parsers accept both forms).
    for (const x of value) w.int(8, x);
    w.int(20, ATTR_INTS);
  }
}

function writeInitializer(w: ProtoWriter, t: Initializer): void {
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (count !== t.data.length) throw new Error(`onnx-graph: initializer ${t.name} has ${t.data.length} values for dims [${t.dims}]`);
  const expected = t.type === 'float' ? Float32Array : t.type === 'int32' ? Int32Array : BigInt64Array;
  if (!(t.data instanceof expected)) throw new Error(`onnx-graph: initializer ${t.name} is ${t.type} but holds a ${t.data.constructor.name}`);
  for (const d of t.dims) w.int(1, d);
  w.int(2, ElemType[t.type]);
  w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
}

/** Serialises a graph as an ONNX ModelProto (default opset 17, IR version 8 — the IR that opset 17 shipped with). */
export function encodeModel(graph: GraphSpec, opset = 17, irVersion = 8): Uint8Array {
  const known = new Set([...graph.inputs.map((v) => v.name), ...(graph.initializers ?? []).map((t) => t.name)]);
  graph.nodes.forEach((n, i) => {
    for (const x of n.inputs) {
      if (x !== '' && !known.has(x)) throw new Error(`onnx-graph: node ${i} (${n.op}${n.name ? ' ' + n.name : ''}) reads ${x}, which no earlier node, input or initializer defines`);
    }
    for (const y of n.outputs) known.add(y);
  });
  for (const o of graph.outputs) if (!known.has(o.name)) throw new Error(`onnx-graph: graph output ${o.name} is never produced`);

  const w = new ProtoWriter();
  w.int(1, irVersion);
  w.string(2, 'retort-bench');
  w.message(7, (g) => {
    graph.nodes.forEach((n, i) => {
      g.message(1, (node) => {
        for (const x of n.inputs) node.string(1, x);
        for (const y of n.outputs) node.string(2, y);
        node.string(3, n.name ?? `${n.op}_${i}`);
        node.string(4, n.op);
        for (const [k, v] of Object.entries(n.attrs ?? {})) node.message(5, (a) => writeAttribute(a, k, v, `node ${i} (${n.op})`));
      });
    });
    g.string(2, graph.name);
    for (const t of graph.initializers ?? []) g.message(5, (tw) => writeInitializer(tw, t));
    for (const v of graph.inputs) g.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of graph.outputs) g.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (o) => o.string(1, '').int(2, opset));
  return w.finish();
}

/**
 * One MatMul: Y[M, N] = A[M, K] · B[K, N]. With `b` given, B is an initializer (a weight baked into
 * the model, as in an exported student); otherwise it is a second input.
 */
export function matmulModel(M: number, K: number, N: number, b?: Float32Array): Uint8Array {
  if (b && b.length !== K * N) throw new Error(`matmulModel: B has ${b.length} values, expected K·N = ${K}·${N}`);
  return encodeModel({
    name: `matmul_${M}x${K}x${N}`,
    nodes: [{ op: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'] }],
    inputs: [{ name: 'A', type: 'float', shape: [M, K] }, ...(b ? [] : [{ name: 'B', type: 'float' as const, shape: [K, N] }])],
    outputs: [{ name: 'Y', type: 'float', shape: [M, N] }],
    initializers: b ? [{ name: 'B', type: 'float', dims: [K, N], data: b }] : [],
  });
}

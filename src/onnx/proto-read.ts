/**
 * Reads the parts of an ONNX ModelProto a pre-flight check needs — opset imports, each node's operator
 * and domain, where each initializer keeps its bytes, the graph's inputs and outputs with their
 * shapes — without decoding tensor data (raw_data fields are skipped by length). Field numbers as in
 * src/onnx/proto.ts.
 */

export interface OnnxSummary {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  nodes: { name: string; op: string; domain: string }[];
  /** Initializers stored outside the file: their name and external_data entries. */
  external: { name: string; location: string; offset: number; length: number }[];
  inputs: { name: string; shape: (number | string)[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
}

interface Field {
  field: number;
  /** Varint value (wire type 0) or null. */
  int: number | null;
  /** Length-delimited payload (wire type 2) or null. */
  bytes: Uint8Array | null;
}

/** Iterates a message's fields; throws on a truncated or malformed buffer, naming `where`. */
function* fields(buf: Uint8Array, where: string): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let result = 0, mul = 1;
    for (;;) {
      if (pos >= buf.length) throw new Error(`${where}: truncated protobuf (a varint runs past the end)`);
      const b = buf[pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) yield { field, int: varint(), bytes: null };
    else if (wire === 2) {
      const len = varint();
      if (pos + len > buf.length) throw new Error(`${where}: truncated protobuf (field ${field} needs ${len} bytes, ${buf.length - pos} left): not an ONNX file, or cut short`);
      yield { field, int: null, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new Error(`${where}: not an ONNX file (protobuf wire type ${wire} at byte ${pos})`);
  }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

function valueInfo(buf: Uint8Array, where: string): { name: string; shape: (number | string)[] } {
  let name = '';
  const shape: (number | string)[] = [];
  for (const f of fields(buf, where)) {
    if (f.field === 1 && f.bytes) name = text(f.bytes);
    if (f.field !== 2 || !f.bytes) continue;
    for (const t of fields(f.bytes, where)) { // TypeProto.tensor_type
      if (t.field !== 1 || !t.bytes) continue;
      for (const s of fields(t.bytes, where)) { // Tensor.shape
        if (s.field !== 2 || !s.bytes) continue;
        for (const d of fields(s.bytes, where)) {
          if (d.field !== 1 || !d.bytes) continue;
          let dim: number | string = '?';
          for (const v of fields(d.bytes, where)) dim = v.field === 1 && v.int !== null ? v.int : v.field === 2 && v.bytes ? text(v.bytes) : dim;
          shape.push(dim);
        }
      }
    }
  }
  return { name, shape };
}

export function readOnnxSummary(buf: Uint8Array, file: string): OnnxSummary {
  const out: OnnxSummary = { irVersion: 0, opsets: [], nodes: [], external: [], inputs: [], outputs: [] };
  let sawGraph = false;
  for (const f of fields(buf, file)) {
    if (f.field === 1 && f.int !== null) out.irVersion = f.int;
    else if (f.field === 8 && f.bytes) {
      let domain = '', version = 0;
      for (const o of fields(f.bytes, file)) {
        if (o.field === 1 && o.bytes) domain = text(o.bytes);
        if (o.field === 2 && o.int !== null) version = o.int;
      }
      out.opsets.push({ domain: domain === 'ai.onnx' ? '' : domain, version });
    } else if (f.field === 7 && f.bytes) {
      sawGraph = true;
      for (const g of fields(f.bytes, file)) {
        if (!g.bytes) continue;
        if (g.field === 1) {
          const node = { name: '', op: '', domain: '' };
          for (const n of fields(g.bytes, file)) {
            if (!n.bytes) continue;
            if (n.field === 3) node.name = text(n.bytes);
            if (n.field === 4) node.op = text(n.bytes);
            if (n.field === 7) node.domain = text(n.bytes) === 'ai.onnx' ? '' : text(n.bytes);
          }
          out.nodes.push(node);
        } else if (g.field === 5) {
          let name = '', external = false;
          const entries = new Map<string, string>();
          for (const t of fields(g.bytes, file)) {
            if (t.field === 8 && t.bytes) name = text(t.bytes);
            if (t.field === 14 && t.int === 1) external = true;
            if (t.field === 13 && t.bytes) {
              let k = '', v = '';
              for (const e of fields(t.bytes, file)) {
                if (e.field === 1 && e.bytes) k = text(e.bytes);
                if (e.field === 2 && e.bytes) v = text(e.bytes);
              }
              entries.set(k, v);
            }
          }
          if (external) {
            out.external.push({ name, location: entries.get('location') ?? '', offset: Number(entries.get('offset') ?? 0), length: Number(entries.get('length') ?? -1) });
          }
        } else if (g.field === 11) out.inputs.push(valueInfo(g.bytes, file));
        else if (g.field === 12) out.outputs.push(valueInfo(g.bytes, file));
      }
    }
  }
  if (!sawGraph) throw new Error(`${file}: not an ONNX model (no graph in it)`);
  return out;
}

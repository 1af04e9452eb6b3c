/**
 * ONNX graphs for the benchmarks, written by the exporter's protobuf writer (src/onnx/proto.ts, which
 * bench/check-onnx-graph.ts checks against onnxruntime-node): a whole model in one buffer.
 */
import { concat, encodeModel as encodeChunks, type GraphSpec } from '../src/onnx/proto.ts';

export type { AttrValue, ElemTypeName, GraphSpec, Initializer, NodeSpec, ValueInfo } from '../src/onnx/proto.ts';

/** Serialises a graph as an ONNX ModelProto (default opset 17, IR version 8). */
export function encodeModel(graph: GraphSpec, opset = 17, irVersion = 8): Uint8Array {
  return concat(encodeChunks(graph, { opset, irVersion, producer: 'retort-bench' }).model);
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

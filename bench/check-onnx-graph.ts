/**
 * Checks bench/onnx-graph.ts against an independent ONNX parser: onnxruntime-node (CPU) loads the
 * graphs it writes and must compute what a plain-loop reference computes. Run:
 *   node bin/run-ts.mjs bench/check-onnx-graph.ts
 * Exits non-zero on a mismatch, so a wrong field number cannot hide behind a benchmark number.
 */
import { createRequire } from 'node:module';
import { encodeModel, matmulModel } from './onnx-graph.ts';
import { decoderModel } from './model/onnx-decoder.ts';
import { referenceLogits } from './model/reference.ts';
import { hostWeights, makeBatch, studentSpec } from './model/student.ts';
import { STUDENT_SHAPES } from './protocol.ts';

interface OrtTensor { data: Float32Array; dims: readonly number[] }
interface OrtNode {
  Tensor: {
    new (type: 'float32', data: Float32Array, dims: number[]): OrtTensor;
    new (type: 'int64', data: BigInt64Array, dims: number[]): OrtTensor;
  };
  InferenceSession: { create(model: Uint8Array): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }> };
}
// onnxruntime-node is a dependency of transformers.js, not ours: reach it through require, typed here.
const ort = createRequire(import.meta.url)('onnxruntime-node') as OrtNode;

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

function refMatmul(a: Float32Array, b: Float32Array, M: number, K: number, N: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j];
    c[i * N + j] = s;
  }
  return c;
}

function relErr(got: Float32Array, want: Float64Array | Float32Array): number {
  if (got.length !== want.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  return num / den;
}

let worst = 0;
const failures: string[] = [];
function report(what: string, err: number, tol = 1e-5): void {
  worst = Math.max(worst, err);
  console.log(`${what}: max rel err ${err.toExponential(2)}`);
  if (!(err <= tol)) failures.push(`${what} (${err})`);
}

for (const [M, K, N] of [[3, 4, 5], [17, 33, 9], [64, 128, 96]]) {
  const a = rand(M * K, M), b = rand(K * N, N);
  const want = refMatmul(a, b, M, K, N);
  const A = new ort.Tensor('float32', a, [M, K]);
  const withInit = await ort.InferenceSession.create(matmulModel(M, K, N, b));
  report(`MatMul ${M}x${K}x${N}, B initializer`, relErr((await withInit.run({ A })).Y.data, want));
  const twoInputs = await ort.InferenceSession.create(matmulModel(M, K, N));
  report(`MatMul ${M}x${K}x${N}, B input`, relErr((await twoInputs.run({ A, B: new ort.Tensor('float32', b, [K, N]) })).Y.data, want));
}

// Attributes (ints with a negative element, int, float) and a symbolic dimension: Y = Softmax(Transpose(X) · s, axis=-1).
{
  const R = 3, C = 5, s = 0.5;
  const x = rand(R * C, 7);
  const model = encodeModel({
    name: 'attrs',
    nodes: [
      { op: 'Transpose', inputs: ['X'], outputs: ['Xt'], attrs: { perm: [1, 0] } },
      { op: 'Constant', inputs: [], outputs: ['S'], attrs: { value_float: { float: s } } },
      { op: 'Mul', inputs: ['Xt', 'S'], outputs: ['Z'] },
      { op: 'Softmax', inputs: ['Z'], outputs: ['Y'], attrs: { axis: -1 } },
    ],
    inputs: [{ name: 'X', type: 'float', shape: ['rows', C] }],
    outputs: [{ name: 'Y', type: 'float', shape: [C, 'rows'] }],
  });
  const want = new Float64Array(C * R);
  for (let j = 0; j < C; j++) {
    let sum = 0;
    for (let i = 0; i < R; i++) sum += Math.exp(x[i * C + j] * s);
    for (let i = 0; i < R; i++) want[j * R + i] = Math.exp(x[i * C + j] * s) / sum;
  }
  const session = await ort.InferenceSession.create(model);
  report('Transpose/Constant/Mul/Softmax attributes', relErr((await session.run({ X: new ort.Tensor('float32', x, [R, C]) })).Y.data, want));
}

// The student decoder graph (GQA, RoPE, causal softmax, SwiGLU, tied head) against the float64 loop forward.
for (const kvHeads of [2, 4]) {
  const shape = { ...STUDENT_SHAPES.ci, kvHeads, T: 16 };
  const spec = studentSpec(shape);
  const w = hostWeights(spec, 5, 0.05);
  const batch = makeBatch(shape);
  const session = await ort.InferenceSession.create(decoderModel(spec, w, batch.B, batch.T));
  const ids = new ort.Tensor('int64', BigInt64Array.from(Array.from(batch.ids, BigInt)), [batch.B, batch.T]);
  const got = (await session.run({ input_ids: ids })).logits.data;
  report(`decoder graph (H=${spec.heads}, KV=${kvHeads}) logits`, relErr(got, referenceLogits(spec, w, batch.ids, batch.B, batch.T)), 1e-5);
}

// Bad graphs are refused with the node named.
try {
  encodeModel({ name: 'bad', nodes: [{ op: 'Relu', inputs: ['nope'], outputs: ['Y'] }], inputs: [], outputs: [{ name: 'Y', type: 'float', shape: [1] }] });
  failures.push('a node reading an undefined value was accepted');
} catch (e) {
  console.log(`undefined input refused: ${(e as Error).message}`);
}

console.log(`worst relative error: ${worst.toExponential(2)}`);
if (failures.length) {
  console.error(`FAILED: ${failures.join('; ')}`);
  process.exit(1);
}

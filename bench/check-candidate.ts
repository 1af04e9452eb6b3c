/**
 * Checks the candidate matmuls (bench/matmul/candidate*.wgsl) against a float64 loop on Dawn in Node —
 * ragged M and N (not multiples of the 64×64 tile or of the 8×8 block, N % 8 == 4), K not a multiple
 * of BK, both BK variants of the tiled one and the barrier-free one. Run:  node bin/run-ts.mjs bench/check-candidate.ts
 */
import { nodeRuntime } from '../src/cli/dawn.ts';
import { matmul } from '../src/engine/kernels/matmul.ts';
import { matmulNtCandidate, matmulNtDirect } from './matmul/candidate.ts';
import { uniform } from './timed.ts';

const rt = await nodeRuntime();
console.log(`adapter: ${rt.env.adapter}`);
let worst = 0;
const failures: string[] = [];
for (const [M, K, N] of [[1, 4, 4], [7, 12, 20], [9, 8, 12], [65, 36, 68], [130, 100, 132], [128, 256, 256]]) {
  const a = uniform(M * K, M + 1), w = uniform(N * K, N + 2);
  const ref = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[i * K + k] * w[j * K + k];
    ref[i * N + j] = s;
  }
  const refMax = Math.max(...ref.map(Math.abs));
  const at = rt.upload(a, [M, K]), wt = rt.upload(w, [N, K]);
  for (const variant of [16, 32, 'direct'] as const) {
    const out = rt.empty([M, N]);
    if (variant === 'direct') matmulNtDirect(rt, at, wt, out);
    else matmulNtCandidate(rt, at, wt, out, variant);
    const got = await rt.readF32(out);
    let err = 0;
    for (let i = 0; i < M * N; i++) err = Math.max(err, Math.abs(got[i] - ref[i]));
    err /= refMax;
    worst = Math.max(worst, err);
    console.log(`${M}×${K}×${N} ${variant}: max rel err ${err.toExponential(2)}`);
    if (!(err < 1e-5)) failures.push(`${M}×${K}×${N} ${variant}: ${err}`);
    out.dispose();
  }
  const engine = await rt.readF32(matmul(rt, at, wt, { transB: true }));
  let err = 0;
  for (let i = 0; i < M * N; i++) err = Math.max(err, Math.abs(engine[i] - ref[i]));
  console.log(`${M}×${K}×${N} engine matmul (for scale): ${(err / refMax).toExponential(2)}`);
  at.dispose();
  wt.dispose();
}
for (const f of [matmulNtCandidate, matmulNtDirect]) {
  try {
    f(rt, rt.empty([4, 6]), rt.empty([4, 6]), rt.empty([4, 4]));
    failures.push(`${f.name}: K=6 accepted`);
  } catch (e) {
    console.log(`refused: ${(e as Error).message}`);
  }
}
console.log(`worst relative error: ${worst.toExponential(2)}`);
rt.destroy();
if (failures.length) {
  console.error(`FAILED: ${failures.join('; ')}`);
  process.exit(1);
}

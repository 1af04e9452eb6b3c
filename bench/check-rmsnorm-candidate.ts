/**
 * The candidate RMSNorm (bench/rmsnorm/candidate.wgsl) against a float64 loop, then timed against the
 * engine's rmsnormForward on this adapter (Dawn in Node). Run:
 *   node bin/run-ts.mjs bench/check-rmsnorm-candidate.ts
 */
import { nodeRuntime } from '../src/cli/dawn.ts';
import { rmsnormForward } from '../src/engine/kernels/rmsnorm.ts';
import { rmsnormRows } from './rmsnorm/candidate.ts';
import { median, uniform } from './timed.ts';

const rt = await nodeRuntime();
console.log(`adapter: ${rt.env.adapter}`);
let worst = 0;
for (const [N, C] of [[1, 3], [65, 128], [128, 128], [512, 896]]) {
  const xs = uniform(N * C, N), ws = uniform(C, C);
  const x = rt.upload(xs, [N, C]), w = rt.upload(ws, [C]);
  const cand = rmsnormRows(rt, x, w, 1e-6);
  const [y, rstd] = [await rt.readF32(cand.y), await rt.readF32(cand.rstd)];
  let err = 0, scale = 0;
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += xs[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + 1e-6);
    err = Math.max(err, Math.abs(rstd[n] - r) / r);
    for (let c = 0; c < C; c++) {
      const ref = ws[c] * xs[n * C + c] * r;
      scale = Math.max(scale, Math.abs(ref));
      err = Math.max(err, Math.abs(y[n * C + c] - ref) / Math.max(scale, 1e-30));
    }
  }
  worst = Math.max(worst, err);
  const time = async (f: () => void) => {
    f();
    await rt.sync();
    const ts: number[] = [];
    for (let r = 0; r < 5; r++) {
      const t0 = performance.now();
      f();
      await rt.sync();
      ts.push(performance.now() - t0);
    }
    return median(ts);
  };
  const engineMs = await time(() => { const o = rmsnormForward(rt, x, w, 1e-6); o.y.dispose(); o.rstd.dispose(); });
  const candMs = await time(() => { const o = rmsnormRows(rt, x, w, 1e-6); o.y.dispose(); o.rstd.dispose(); });
  console.log(`[${N}, ${C}]: rel err ${err.toExponential(2)}; engine ${engineMs.toFixed(2)} ms, candidate ${candMs.toFixed(2)} ms (${(engineMs / candMs).toFixed(1)}×)`);
}
console.log(`worst relative error: ${worst.toExponential(2)}`);
rt.destroy();
if (!(worst < 1e-5)) {
  console.error('FAILED: the candidate RMSNorm disagrees with the float64 reference');
  process.exit(1);
}

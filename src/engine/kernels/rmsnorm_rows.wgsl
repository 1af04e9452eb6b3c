// RMSNorm forward for software adapters: one invocation per row, no workgroup memory, no
// barriers. The engine's kernel (one 256-wide workgroup per row, a tree reduction with 9 barriers)
// is right for GPUs with few long rows; SwiftShader pays a coroutine switch per barrier per SIMD
// batch, which made it half of a CI-sized forward. Same math and outputs (y and rstd for backward):
//   y = w · (x · rstd),  rstd = 1 / sqrt(mean(x²) + eps)
// Bindings: x, w (read), y, rstd (read_write).

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.y * nwg.x * 64u + gid.x;
  if (row >= params.N) { return; }
  let base = row * params.C;
  var s = 0.0;
  for (var c = 0u; c < params.C; c++) {
    let v = x[base + c];
    s = fma(v, v, s);
  }
  let r = 1.0 / sqrt(s / f32(params.C) + params.eps);
  for (var c = 0u; c < params.C; c++) {
    y[base + c] = w[c] * (x[base + c] * r);
  }
  rstd[row] = r;
}

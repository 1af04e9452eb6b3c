// RMSNorm backward dx for software adapters, one invocation per row (no workgroup memory, no barriers);
// differentiates rmsnorm_rows.wgsl exactly as rmsnorm_backward.wgsl's `dx` entry does:
//   dx = rstd · dy·w − x · rstd³ / C · Σ_c dy·w·x
// Bindings: dy, x, w, rstd (read), out (read_write).

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = gid.y * nwg.x * 64u + gid.x;
  if (row >= params.N) { return; }
  let base = row * params.C;
  var s = 0.0;
  for (var c = 0u; c < params.C; c++) {
    s = fma(dy[base + c] * w[c], x[base + c], s);
  }
  let r = rstd[row];
  let k = r * r * r * s / f32(params.C);
  for (var c = 0u; c < params.C; c++) {
    out[base + c] = r * dy[base + c] * w[c] - k * x[base + c];
  }
}

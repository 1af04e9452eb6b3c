// RMSNorm backward, differentiating `y = w · (x · rstd)` of rmsnorm.wgsl with rstd = (mean(x²) + eps)^-½:
//   dx = rstd · dy·w − x · rstd³ / C · Σ_c dy·w·x      (entry dx: one workgroup per row)
//   dw = Σ_rows dy · x · rstd                          (entry dweight_partials: per chunk of rows,
//        a column-parallel pass into out [chunks, C]; the launcher then sums the chunks — no atomics)

const WG = 256u;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn dx(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
      @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.N) { return; }
  let base = row * params.C;
  var s = 0.0;
  for (var c = li; c < params.C; c += WG) {
    s = fma(dy[base + c] * w[c], x[base + c], s);
  }
  red[li] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) { red[li] += red[li + h]; }
    workgroupBarrier();
  }
  let r = rstd[row];
  let k = r * r * r * red[0] / f32(params.C);
  for (var c = li; c < params.C; c += WG) {
    out[base + c] = r * dy[base + c] * w[c] - k * x[base + c];
  }
}

@compute @workgroup_size(256)
fn dweight_partials(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x * WG + li;
  if (c >= params.C) { return; }
  let r0 = wg.y * params.rowsPerChunk;
  let r1 = min(r0 + params.rowsPerChunk, params.N);
  var s = 0.0;
  for (var r = r0; r < r1; r++) {
    s = fma(dy[r * params.C + c] * x[r * params.C + c], rstd[r], s);
  }
  out[wg.y * params.C + c] = s;
}

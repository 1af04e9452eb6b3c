// RMSNorm forward, one workgroup per row: y = w · (x · rstd), rstd = 1 / sqrt(mean(x²) + eps), in f32
// as Hugging Face computes it; rstd [N] is kept for the backward.

const WG = 256u;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.N) { return; }
  let base = row * params.C;
  var s = 0.0;
  for (var c = li; c < params.C; c += WG) {
    let v = x[base + c];
    s = fma(v, v, s);
  }
  red[li] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) { red[li] += red[li + h]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(red[0] / f32(params.C) + params.eps);
  for (var c = li; c < params.C; c += WG) {
    y[base + c] = w[c] * (x[base + c] * r);
  }
  if (li == 0u) { rstd[row] = r; }
}

// Hidden-state distillation through a learned projection, the per-token part: y = W h_s + b was
// computed by matmul; one workgroup per token row of y [N, Dt] against the teacher's h_t [N, Dt]:
//   mse     part = Σ (y − h_t)² / Dt                     ∂part/∂y = 2 (y − h_t) / Dt
//   cosine  part = 1 − cos,  cos = y·h_t / (max(‖y‖, ε) · max(‖h_t‖, ε))      (the torch worker's form)
//           ∂cos/∂y = h_t / (ny·nh) − cos · y / ‖y‖²   with ny = ‖y‖ > ε;  h_t / (ε·nh) when ‖y‖ ≤ ε
//           (the clamp's gradient is 0 there), nh = max(‖h_t‖, ε).
// `main` writes parts[row] and dL/dy = scale·∂part/∂y IN PLACE over y (scale = weight / count);
// a token whose mask is negative is left out (zero part, zero gradient).
// `total` sums the parts: loss[0] = scale·Σ parts (one workgroup).

const WG = 256u;
const COSINE_EPS = 1e-8;
const KIND_COSINE = 1u;

var<workgroup> red: array<vec3<f32>, 256>;
var<workgroup> mask_wg: i32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.N) { return; }
  if (li == 0u) { mask_wg = mask[row]; }
  let m = workgroupUniformLoad(&mask_wg);
  let base = row * params.D;
  if (m < 0) {
    for (var i = li; i < params.D; i += WG) { y[base + i] = 0.0; }
    if (li == 0u) { parts[row] = 0.0; }
    return;
  }
  // Σ (y − h)², or (y·h, y·y, h·h)
  var acc = vec3<f32>(0.0);
  for (var i = li; i < params.D; i += WG) {
    let a = y[base + i];
    let h = ht[base + i];
    if (KIND == KIND_COSINE) {
      acc += vec3<f32>(a * h, a * a, h * h);
    } else {
      acc.x += (a - h) * (a - h);
    }
  }
  red[li] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  let D = f32(params.D);
  if (KIND == KIND_COSINE) {
    let yn = sqrt(r.y);
    let ny = max(yn, COSINE_EPS);
    let nh = max(sqrt(r.z), COSINE_EPS);
    let cos = r.x / (ny * nh);
    if (li == 0u) { parts[row] = 1.0 - cos; }
    for (var i = li; i < params.D; i += WG) {
      let h = ht[base + i];
      var dcos = h / (ny * nh);
      if (yn > COSINE_EPS) { dcos -= cos * y[base + i] / r.y; }
      y[base + i] = -params.scale * dcos;
    }
  } else {
    if (li == 0u) { parts[row] = r.x / D; }
    for (var i = li; i < params.D; i += WG) {
      y[base + i] = params.scale * 2.0 * (y[base + i] - ht[base + i]) / D;
    }
  }
}

@compute @workgroup_size(256)
fn total(@builtin(local_invocation_index) li: u32) {
  var acc = 0.0;
  for (var i = li; i < params.N; i += WG) { acc += parts[i]; }
  red[li] = vec3<f32>(acc, 0.0, 0.0);
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] += red[li + s]; }
    workgroupBarrier();
  }
  if (li == 0u) { loss[0] = params.scale * red[0].x; }
}

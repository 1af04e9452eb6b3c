// Attention probabilities of chosen query rows of one batch row b, for attention-map losses and the
// UI: probs [H, R, T] = softmax_j(scale · q_t·k_j + mask) at t = rows[i], the same mask as
// attention.wgsl (key j seen iff j ≤ t and mask[b, j] = 1 or j = t). q [B, T, H, D], k [B, T, KV, D].
// One workgroup per (row i, head h): each thread keeps an online (max, sum) over its keys, a tree
// reduction merges them, and a second pass writes exp(s − max) / sum.

const WG = 128u;
const DV = 32u; // vec4 of the staged query row: D ≤ 128
const MASKED = -1e30;

var<workgroup> qrow: array<vec4<f32>, 32>;
var<workgroup> red_m: array<f32, 128>;
var<workgroup> red_l: array<f32, 128>;

fn sees(t: u32, j: u32) -> bool {
  if (j > t) { return false; }
  if (params.hasMask == 0u || j == t) { return true; }
  return mask[params.b * params.maskStride + j] != 0u;
}

fn score(j: u32, g: u32) -> f32 {
  let base = ((params.b * params.T + j) * params.KV + g) * params.D;
  var s = 0.0;
  for (var dv = 0u; dv < (params.D + 3u) / 4u; dv++) {
    var kx = vec4<f32>(0.0);
    for (var e = 0u; e < 4u; e++) { if (dv * 4u + e < params.D) { kx[e] = k[base + dv * 4u + e]; } }
    s += dot(qrow[dv], kx);
  }
  return s * params.scale;
}

@compute @workgroup_size(128)
fn probs_rows(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = wg.x;
  let h = wg.y;
  let g = h / (params.H / params.KV);
  let t = rows[i];
  if (li < DV) {
    var x = vec4<f32>(0.0);
    let base = ((params.b * params.T + t) * params.H + h) * params.D;
    for (var e = 0u; e < 4u; e++) { if (li * 4u + e < params.D) { x[e] = q[base + li * 4u + e]; } }
    qrow[li] = x;
  }
  workgroupBarrier();

  var m = MASKED;
  var l = 0.0;
  for (var j = li; j <= t; j += WG) {
    if (sees(t, j)) {
      let s = score(j, g);
      let mNew = max(m, s);
      l = l * exp(m - mNew) + exp(s - mNew);
      m = mNew;
    }
  }
  red_m[li] = m;
  red_l[li] = l;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half >>= 1u) {
    if (li < half) {
      let m1 = red_m[li];
      let m2 = red_m[li + half];
      let mm = max(m1, m2);
      red_l[li] = red_l[li] * exp(m1 - mm) + red_l[li + half] * exp(m2 - mm);
      red_m[li] = mm;
    }
    workgroupBarrier();
  }
  let M = red_m[0];
  let L = red_l[0]; // ≥ 1: row t always sees itself

  let o = (h * params.R + i) * params.T;
  for (var j = li; j < params.T; j += WG) {
    var p = 0.0;
    if (sees(t, j)) { p = exp(score(j, g) - M) / L; }
    probs[o + j] = p;
  }
}

// Row softmax / log-softmax with temperature and the row log-sum-exp, one workgroup per row of
// x [N, V] with z = x / T. Each thread keeps an online (max, Σ exp(z − max)) over its stride of the
// row (V reaches 152k), then a tree reduction merges the pairs — numerically stable, two reads of x.
//   forward:    out [N, V] = exp(z − m) / s            (mode 0, softmax)
//                          = z − m − log s            (mode 1, log-softmax)
//   logsumexp:  out [N]    = m + log s

const WG = 256u;
const LOWEST = -3.4028234663852886e38; // a finite −∞: WGSL lets compilers assume floats are finite
const MODE_LOG = 1u;

var<workgroup> red_m: array<f32, 256>;
var<workgroup> red_s: array<f32, 256>;

// (m, s) of the row starting at `base`: m = max z, s = Σ exp(z − m).
fn row_stats(base: u32, li: u32) -> vec2<f32> {
  var m = LOWEST;
  var s = 0.0;
  for (var v = li; v < params.V; v += WG) {
    let z = x[base + v] / params.T;
    if (z > m) {
      s = s * exp(m - z) + 1.0;
      m = z;
    } else {
      s += exp(z - m);
    }
  }
  red_m[li] = m;
  red_s[li] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      let m1 = red_m[li];
      let m2 = red_m[li + h];
      let mm = max(m1, m2);
      red_s[li] = red_s[li] * exp(m1 - mm) + red_s[li + h] * exp(m2 - mm);
      red_m[li] = mm;
    }
    workgroupBarrier();
  }
  return vec2<f32>(red_m[0], red_s[0]);
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.N) { return; }
  let base = row * params.V;
  let st = row_stats(base, li);
  let logS = log(st.y);
  for (var v = li; v < params.V; v += WG) {
    let z = x[base + v] / params.T - st.x;
    if (params.mode == MODE_LOG) {
      out[base + v] = z - logS;
    } else {
      out[base + v] = exp(z) / st.y;
    }
  }
}

@compute @workgroup_size(256)
fn logsumexp(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.N) { return; }
  let st = row_stats(row * params.V, li);
  if (li == 0u) { out[row] = st.x + log(st.y); }
}

// Backward of softmax.wgsl's forward, one workgroup per row, with z = x / T:
//   softmax     (y = exp(z − m) / s):   dx = y · (dy − Σ dy·y) / T
//   log-softmax (y = z − m − log s):    dx = (dy − exp(y) · Σ dy) / T

const WG = 256u;
const MODE_LOG = 1u;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.N) { return; }
  let base = row * params.V;
  let isLog = params.mode == MODE_LOG;
  var s = 0.0;
  for (var v = li; v < params.V; v += WG) {
    s += select(dy[base + v] * y[base + v], dy[base + v], isLog);
  }
  red[li] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) { red[li] += red[li + h]; }
    workgroupBarrier();
  }
  let total = red[0];
  for (var v = li; v < params.V; v += WG) {
    let yv = y[base + v];
    let g = select(yv * (dy[base + v] - total), dy[base + v] - exp(yv) * total, isLog);
    dx[base + v] = g / params.T;
  }
}

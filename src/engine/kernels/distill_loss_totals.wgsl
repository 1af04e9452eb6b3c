// The batch loss from per-token parts [N, 2] = (T²·D, CE), one workgroup:
//   soft = scale·Σ T²·D,  hard = scale·Σ CE,  loss = α·soft + (1 − α)·hard,  scale = 1/count.
// Rows of masked tokens hold zeros, so the sums run over every row.

const WG = 256u;

var<workgroup> red: array<vec2<f32>, 256>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) li: u32) {
  var acc = vec2<f32>(0.0, 0.0);
  for (var i = li; i < params.N; i += WG) { acc += vec2<f32>(parts[2u * i], parts[2u * i + 1u]); }
  red[li] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) { red[li] += red[li + h]; }
    workgroupBarrier();
  }
  if (li == 0u) {
    let s = red[0] * params.scale;
    soft[0] = s.x;
    hard[0] = s.y;
    loss[0] = params.alpha * s.x + (1.0 - params.alpha) * s.y;
  }
}

// SwiGLU backward, differentiating `h = g · σ(g) · up` of swiglu.wgsl:
//   dgate = dy · up · σ(g) · (1 + g · (1 − σ(g)))      dup = dy · g · σ(g)

const WG = 256u;

fn sigmoid(v: f32) -> f32 {
  let e = exp(-abs(v));
  return select(e, 1.0, v >= 0.0) / (1.0 + e);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + li;
  if (i >= params.n) { return; }
  let g = gate[i];
  let s = sigmoid(g);
  let d = dy[i];
  dgate[i] = d * up[i] * s * (1.0 + g * (1.0 - s));
  dup[i] = d * g * s;
}

// SwiGLU forward: h = silu(gate) · up, silu(g) = g · σ(g), one thread per element.

const WG = 256u;

// σ(v) without overflow: exp of a non-positive argument only.
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
  h[i] = g * sigmoid(g) * up[i];
}

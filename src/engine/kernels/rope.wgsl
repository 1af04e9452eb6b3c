// Rotary embedding in Hugging Face's rotate_half layout (the two halves of a head, not interleaved
// pairs): with θ = position · invFreq[i] (an f32 product, as HF builds `freqs`), for i < D/2
//   out[i]       = x[i] · cos θ − x[i + D/2] · sin θ
//   out[i + D/2] = x[i + D/2] · cos θ + x[i] · sin θ
// times `scale` (yarn's attention factor, else 1). `sign` = −1 rotates by −θ: the backward, since the
// transpose of a rotation is the rotation back. One thread per (token, head, i).

const WG = 256u;

// sin and cos of θ with f32 accuracy. WGSL's builtins only promise ~2⁻¹¹ absolute error on [−π, π]
// (SwiftShader's are that coarse) and nothing beyond, while positions × frequencies reach 10⁵ rad.
// So: Cody–Waite reduction by π/2 (HALF_PI_1/2 have ≤ 7 significant bits, so k·HALF_PI_1 and
// k·HALF_PI_2 are exact for |k| < 2¹⁷, i.e. |θ| < 2·10⁵), then Cephes' sinf/cosf polynomials on
// [−π/4, π/4] and the quadrant. Returns (cos θ, sin θ).
const TWO_OVER_PI = 0.6366197466850281;
const HALF_PI_1 = 1.578125;
const HALF_PI_2 = -0.00732421875;
const HALF_PI_3 = -4.454454938240815e-6;

fn cos_sin(theta: f32) -> vec2<f32> {
  let k = round(theta * TWO_OVER_PI);
  let r = ((theta - k * HALF_PI_1) - k * HALF_PI_2) - k * HALF_PI_3;
  let z = r * r;
  let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
  let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z - 0.5 * z + 1.0;
  switch (u32(i32(k)) & 3u) {
    case 0u: { return vec2<f32>(c, s); }
    case 1u: { return vec2<f32>(-s, c); }
    case 2u: { return vec2<f32>(-c, -s); }
    default: { return vec2<f32>(s, -c); }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let t = (wg.y * nwg.x + wg.x) * WG + li;
  let half = params.half;
  if (t >= params.N * params.H * half) { return; }
  let i = t % half;
  let n = t / (params.H * half);
  let base = (t / half) * 2u * half;
  let cs = cos_sin(f32(positions[n]) * invFreq[i]) * params.scale;
  let c = cs.x;
  let s = cs.y * params.sign;
  let x1 = x[base + i];
  let x2 = x[base + i + half];
  out[base + i] = x1 * c - x2 * s;
  out[base + i + half] = x2 * c + x1 * s;
}

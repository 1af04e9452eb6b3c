// Global L2 norm over many gradient tensors, without float atomics and without a read back.
// Both entry points reduce `src` into `dst`:
//   sum_squares (one dispatch per gradient tensor, src = g): workgroup w writes Σ g² over its
//     grid-stride slice to dst[offset + w] (the partials); a slice holding a NaN/Inf writes NaN.
//   finish (one workgroup, src = partials): dst[0] = ‖g‖², dst[1] = 1 when any partial was NaN/Inf
//     or the total overflowed f32 (then dst[0] is NaN), else 0.
// Floats cross the bindings as u32 bits: WGSL lets compilers assume floats are finite, so the
// NaN/Inf test looks at the exponent bits, never at `x != x`.

const WG = 256u;
const NAN_BITS = 0x7fc00000u;

var<workgroup> sums: array<f32, 256>;
var<workgroup> bad: array<u32, 256>;

fn non_finite(bits: u32) -> bool {
  return (bits & 0x7f800000u) == 0x7f800000u;
}

// Tree reduction of every invocation's (s, b) into sums[0], bad[0].
fn reduce(li: u32, s: f32, b: u32) {
  sums[li] = s;
  bad[li] = b;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      sums[li] += sums[li + h];
      bad[li] |= bad[li + h];
    }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn sum_squares(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  var b = 0u;
  for (var i = wg.x * WG + li; i < params.n; i += params.groups * WG) {
    let bits = src[i];
    let nf = non_finite(bits);
    let x = select(bitcast<f32>(bits), 0.0, nf);
    s = fma(x, x, s);
    b |= select(0u, 1u, nf);
  }
  reduce(li, s, b);
  if (li == 0u) {
    dst[params.offset + wg.x] = select(bitcast<u32>(sums[0]), NAN_BITS, bad[0] != 0u);
  }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  var b = 0u;
  for (var i = li; i < params.n; i += WG) {
    let bits = src[i];
    let nf = non_finite(bits);
    s += select(bitcast<f32>(bits), 0.0, nf);
    b |= select(0u, 1u, nf);
  }
  reduce(li, s, b);
  if (li == 0u) {
    let total = bitcast<u32>(sums[0]);
    let nf = bad[0] != 0u || non_finite(total);
    dst[0] = select(total, NAN_BITS, nf);
    dst[1] = select(0u, 1u, nf);
  }
}

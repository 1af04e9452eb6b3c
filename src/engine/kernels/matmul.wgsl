// Batched tiled matmul: C[b] = alpha · op(A[b]) · op(B[b]) (+ C[b] when ACCUMULATE).
// Transposes and batching are strides in `params`, so every layout shares one pipeline.
// A workgroup computes a 64×64 tile of C; each of its 16×8 threads an 8×4 block held in eight vec4
// registers (constant indices: dynamically indexed private arrays spill to memory on many compilers),
// stepping through K in 16-wide slices staged in workgroup memory.
// Bindings: a, b (read), c (read_write). Variants: ACCUMULATE; B_DTYPE through `load_b` (prelude).

const BM = 64u;
const BN = 64u;
const BK = 16u;

var<workgroup> As: array<vec4<f32>, 256>; // [k][m/4]: BK × BM/4
var<workgroup> Bs: array<vec4<f32>, 256>; // [k][n/4]: BK × BN/4

fn load_a(base: u32, m: u32, k: u32) -> f32 {
  if (m < params.M && k < params.K) { return a[base + m * params.aRow + k * params.aCol]; }
  return 0.0;
}

fn load_b_at(base: u32, k: u32, n: u32) -> f32 {
  if (k < params.K && n < params.N) { return load_b(base + k * params.bRow + n * params.bCol); }
  return 0.0;
}

@compute @workgroup_size(16, 8)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let batch = wg.z;
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let aBase = batch * params.aBatch;
  let bBase = batch * params.bBatch;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);

  for (var k0 = 0u; k0 < params.K; k0 += BK) {
    // 128 threads stage 256 vec4 of A (4 consecutive m at one k) and 256 of B (4 consecutive n): two each.
    for (var r = 0u; r < 2u; r++) {
      let slot = li + r * 128u;
      let gk = k0 + slot / 16u;
      let q = (slot % 16u) * 4u;
      As[slot] = vec4<f32>(load_a(aBase, m0 + q, gk), load_a(aBase, m0 + q + 1u, gk),
                           load_a(aBase, m0 + q + 2u, gk), load_a(aBase, m0 + q + 3u, gk));
      Bs[slot] = vec4<f32>(load_b_at(bBase, gk, n0 + q), load_b_at(bBase, gk, n0 + q + 1u),
                           load_b_at(bBase, gk, n0 + q + 2u), load_b_at(bBase, gk, n0 + q + 3u));
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a0 = As[k * 16u + lid.y * 2u];      // rows lid.y*8 .. +3
      let a1 = As[k * 16u + lid.y * 2u + 1u]; // rows lid.y*8+4 .. +7
      let bv = Bs[k * 16u + lid.x];
      acc0 = fma(vec4<f32>(a0.x), bv, acc0);
      acc1 = fma(vec4<f32>(a0.y), bv, acc1);
      acc2 = fma(vec4<f32>(a0.z), bv, acc2);
      acc3 = fma(vec4<f32>(a0.w), bv, acc3);
      acc4 = fma(vec4<f32>(a1.x), bv, acc4);
      acc5 = fma(vec4<f32>(a1.y), bv, acc5);
      acc6 = fma(vec4<f32>(a1.z), bv, acc6);
      acc7 = fma(vec4<f32>(a1.w), bv, acc7);
    }
    workgroupBarrier();
  }

  let cBase = batch * params.cBatch;
  let gm = m0 + lid.y * 8u;
  let gn = n0 + lid.x * 4u;
  store_row(cBase, gm, gn, acc0);
  store_row(cBase, gm + 1u, gn, acc1);
  store_row(cBase, gm + 2u, gn, acc2);
  store_row(cBase, gm + 3u, gn, acc3);
  store_row(cBase, gm + 4u, gn, acc4);
  store_row(cBase, gm + 5u, gn, acc5);
  store_row(cBase, gm + 6u, gn, acc6);
  store_row(cBase, gm + 7u, gn, acc7);
}

fn store_row(base: u32, m: u32, n: u32, v: vec4<f32>) {
  if (m >= params.M) { return; }
  let row = base + m * params.N;
  for (var j = 0u; j < 4u; j++) {
    if (n + j < params.N) {
      var x = params.alpha * v[j];
      if (ACCUMULATE) { x += c[row + n + j]; }
      c[row + n + j] = x;
    }
  }
}

// Candidate matmul for the engine's Linear layout ("NT"): C[M, N] = A[M, K] · W[N, K]ᵀ, both operands
// K-contiguous. What changes from src/engine/kernels/matmul.wgsl:
//   1. global loads are vec4 along K (one 16-byte load instead of four strided scalar loads, and
//      neighbouring threads read neighbouring bytes of one row: coalesced on GPUs);
//   2. BK (a variant) up to 32: half the barriers per FLOP — barriers are what SwiftShader pays most for;
//   3. C is written as vec4 (N % 4 == 0).
// The tile is the engine's: 64×64 per workgroup of 16×8 threads, each thread 8 rows × 4 columns in
// eight vec4 accumulators. Needs K % 4 == 0 and N % 4 == 0 (all Qwen shapes); the launcher checks.
// Bindings: a, w: array<vec4<f32>> (read), c: array<vec4<f32>> (read_write). Variant: BK (16 or 32).

const BM = 64u;
const BN = 64u;
const KQ = BK / 4u;                // vec4s per tile row
const LOADS = BM * KQ / 128u;      // vec4 loads per thread per operand

var<workgroup> As: array<vec4<f32>, BK * 16u>; // [k][m/4]: transposed on the way in
var<workgroup> Ws: array<vec4<f32>, BK * 16u>; // [k][n/4]

@compute @workgroup_size(16, 8)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let m0 = wg.y * BM;
  let n0 = wg.x * BN;
  let K4 = params.K / 4u;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);

  for (var k0 = 0u; k0 < K4; k0 += KQ) {
    for (var r = 0u; r < LOADS; r++) {
      let slot = li + r * 128u;
      let row = slot / KQ;          // 0 .. 63: a row of A (an m) and of W (an n)
      let kq = slot % KQ;           // which vec4 along k
      let gk = k0 + kq;
      var av = vec4<f32>(0.0);
      var wv = vec4<f32>(0.0);
      if (gk < K4) {
        if (m0 + row < params.M) { av = a[(m0 + row) * K4 + gk]; }
        if (n0 + row < params.N) { wv = w[(n0 + row) * K4 + gk]; }
      }
      // scatter the 4 k's of this row into 4 k-rows of the tile: element (k, row) at [k][row/4][row%4]
      let k = kq * 4u;
      let q = row / 4u;
      let c = row % 4u;
      As[k * 16u + q][c] = av.x;
      As[(k + 1u) * 16u + q][c] = av.y;
      As[(k + 2u) * 16u + q][c] = av.z;
      As[(k + 3u) * 16u + q][c] = av.w;
      Ws[k * 16u + q][c] = wv.x;
      Ws[(k + 1u) * 16u + q][c] = wv.y;
      Ws[(k + 2u) * 16u + q][c] = wv.z;
      Ws[(k + 3u) * 16u + q][c] = wv.w;
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a0 = As[k * 16u + lid.y * 2u];      // rows lid.y*8 .. +3
      let a1 = As[k * 16u + lid.y * 2u + 1u]; // rows lid.y*8+4 .. +7
      let bv = Ws[k * 16u + lid.x];           // cols lid.x*4 .. +3
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

  let gm = m0 + lid.y * 8u;
  let gn = n0 + lid.x * 4u;
  if (gn >= params.N) { return; }
  let N4 = params.N / 4u;
  let col = gn / 4u;
  if (gm < params.M) { c[gm * N4 + col] = acc0; }
  if (gm + 1u < params.M) { c[(gm + 1u) * N4 + col] = acc1; }
  if (gm + 2u < params.M) { c[(gm + 2u) * N4 + col] = acc2; }
  if (gm + 3u < params.M) { c[(gm + 3u) * N4 + col] = acc3; }
  if (gm + 4u < params.M) { c[(gm + 4u) * N4 + col] = acc4; }
  if (gm + 5u < params.M) { c[(gm + 5u) * N4 + col] = acc5; }
  if (gm + 6u < params.M) { c[(gm + 6u) * N4 + col] = acc6; }
  if (gm + 7u < params.M) { c[(gm + 7u) * N4 + col] = acc7; }
}

// Candidate for software adapters (SwiftShader): no workgroup memory and no barriers. Each invocation
// computes an 8×8 block of C = A·Wᵀ (A [M, K], W [N, K], both K-contiguous) straight from global
// memory, stepping K by 4: 16 vec4 loads feed 256 multiply-adds, as four 4×4 matrix products
//   Cblock[i][j] += Σ_k A[m+i, k] · W[n+j, k]  ⇔  acc(4×4) += (w0 w1 w2 w3)ᵀ · (a0 a1 a2 a3),
// so column i of an accumulator is row i of a 4-column group of C. Reuse across invocations is left
// to the CPU caches. Why it wins there: SwiftShader runs a workgroup's invocations as SIMD batches
// and pays a coroutine switch at every barrier, and its "workgroup memory" is ordinary memory — the
// tiled kernel's staging is pure overhead on a CPU. Needs K % 4 == 0 and N % 4 == 0.
// Bindings: a, w: array<vec4<f32>> (read), c: array<vec4<f32>> (read_write).

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let m = gid.y * 8u;
  let n = gid.x * 8u;
  if (m >= params.M || n >= params.N) { return; }
  let K4 = params.K / 4u;
  // Rows (columns) past M (N) re-read the last one and are never stored: the loop has no branches.
  let lastM = params.M - 1u;
  let lastN = params.N - 1u;
  let ra = array<u32, 8>(m * K4, min(m + 1u, lastM) * K4, min(m + 2u, lastM) * K4, min(m + 3u, lastM) * K4,
                         min(m + 4u, lastM) * K4, min(m + 5u, lastM) * K4, min(m + 6u, lastM) * K4, min(m + 7u, lastM) * K4);
  let rw = array<u32, 8>(n * K4, min(n + 1u, lastN) * K4, min(n + 2u, lastN) * K4, min(n + 3u, lastN) * K4,
                         min(n + 4u, lastN) * K4, min(n + 5u, lastN) * K4, min(n + 6u, lastN) * K4, min(n + 7u, lastN) * K4);
  var acc00 = mat4x4<f32>(); // rows m..m+3,   columns n..n+3
  var acc01 = mat4x4<f32>(); // rows m..m+3,   columns n+4..n+7
  var acc10 = mat4x4<f32>(); // rows m+4..m+7, columns n..n+3
  var acc11 = mat4x4<f32>(); // rows m+4..m+7, columns n+4..n+7
  for (var k = 0u; k < K4; k++) {
    let a0 = mat4x4<f32>(a[ra[0] + k], a[ra[1] + k], a[ra[2] + k], a[ra[3] + k]);
    let a1 = mat4x4<f32>(a[ra[4] + k], a[ra[5] + k], a[ra[6] + k], a[ra[7] + k]);
    let w0 = transpose(mat4x4<f32>(w[rw[0] + k], w[rw[1] + k], w[rw[2] + k], w[rw[3] + k]));
    let w1 = transpose(mat4x4<f32>(w[rw[4] + k], w[rw[5] + k], w[rw[6] + k], w[rw[7] + k]));
    acc00 += w0 * a0;
    acc01 += w1 * a0;
    acc10 += w0 * a1;
    acc11 += w1 * a1;
  }
  let N4 = params.N / 4u;
  let g0 = n / 4u;
  let g1 = g0 + 1u;
  let two = g1 < N4; // N % 8 == 4 leaves the last block one column group wide
  for (var i = 0u; i < 4u; i++) {
    if (m + i < params.M) {
      c[(m + i) * N4 + g0] = acc00[i];
      if (two) { c[(m + i) * N4 + g1] = acc01[i]; }
    }
    if (m + 4u + i < params.M) {
      c[(m + 4u + i) * N4 + g0] = acc10[i];
      if (two) { c[(m + 4u + i) * N4 + g1] = acc11[i]; }
    }
  }
}

// Merges the key splits of attention.wgsl's forward (decoding a long KV cache with few queries):
// split s gave a row's output o_s normalised over its keys and lse_s = log Σ_{j in s} exp(s_j), so
//   out = Σ_s exp(lse_s − M) · o_s / Σ_s exp(lse_s − M),   M = max_s lse_s.
// parts [splits, B, T, H, D], lseParts [splits, B, H, T] → out [B, T, H, D]; one thread per element.

const WG = 64u;
const MASKED = -1e30; // lse of a split that saw no key (attention.wgsl)

@compute @workgroup_size(64)
fn combine(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + li;
  let rows = params.B * params.T * params.H;
  if (i >= rows * params.D) { return; }
  let n = i / params.D;                  // row (b, t, h) of out
  let h = n % params.H;
  let t = (n / params.H) % params.T;
  let b = n / (params.H * params.T);
  let lseRow = (b * params.H + h) * params.T + t;
  var M = MASKED;
  for (var s = 0u; s < params.splits; s++) { M = max(M, lseParts[s * rows + lseRow]); }
  var num = 0.0;
  var den = 0.0;
  for (var s = 0u; s < params.splits; s++) {
    let w = exp(lseParts[s * rows + lseRow] - M);
    num = fma(w, parts[s * rows * params.D + i], num);
    den += w;
  }
  out[i] = num / den;
}

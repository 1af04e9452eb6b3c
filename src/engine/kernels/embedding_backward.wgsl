// Embedding backward: dTable[id, c] (+)= Σ_{n : ids[n] = id} dy[n, c] — differentiates the gather
// `out[n, c] = table[ids[n], c]` of embedding.wgsl. No float atomics: the host groups positions by id
// (groupIds), so one thread owns one (unique id, column) and sums its positions in order.
// `groups` packs three i32 arrays: unique ids [U] | offsets [U + 1] | positions [N] (CSR by id).

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + li;
  if (i >= params.U * params.C) { return; }
  let u = i / params.C;
  let c = i % params.C;
  let p0 = u32(groups[params.U + u]);
  let p1 = u32(groups[params.U + u + 1u]);
  let posAt = 2u * params.U + 1u;
  var s = 0.0;
  for (var p = p0; p < p1; p++) {
    s += dy[u32(groups[posAt + p]) * params.C + c];
  }
  let o = u32(groups[u]) * params.C + c;
  if (params.accumulate != 0u) { s += dTable[o]; }
  dTable[o] = s;
}

// Embedding gather: out[n, c] = table[ids[n], c], one thread per output element. The table is f32 or
// packed f16/bf16 (`load_table`, from the prelude). An id outside [0, V) yields a zero row rather than
// a read past the table; the host checks ids (checkIds, groupIds) where it has them.

const WG = 256u;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * nwg.x + wg.x) * WG + li;
  if (i >= params.N * params.C) { return; }
  let n = i / params.C;
  let c = i % params.C;
  let id = ids[n];
  if (id < 0 || u32(id) >= params.V) {
    out[i] = 0.0;
    return;
  }
  out[i] = load_table(u32(id) * params.C + c);
}

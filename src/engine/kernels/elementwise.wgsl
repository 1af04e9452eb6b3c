// Element-wise maps and the two reductions the engine needs outside the big kernels.
// Every entry point shares the bindings a (read; f32, or packed f16/bf16 through `load_a`), b (read)
// and out (read_write), so one module serves them all. Launches that do not use `b` bind `a` twice.
//   map      one thread per element, `params.op` picks the operation (a uniform, not a variant:
//            every op shares one pipeline and a new op compiles nothing).
//   col_sum  out[chunk, c] (+)= Σ_{r in chunk} a[r, c]: workgroups along columns (coalesced rows),
//            one chunk of `rowsPerChunk` rows per grid row — a column sum without float atomics.
//   sum_sq   per-workgroup partial Σ a² over a grid-stride slice; col_sum finishes it.

const WG = 256u;

const OP_ADD = 0u;      // out = a + alpha·b
const OP_MUL = 1u;      // out = a · b
const OP_SCALE = 2u;    // out = alpha · a   (also the unpack of packed f16/bf16 with alpha = 1)
const OP_AXPY = 3u;     // out += alpha · a
const OP_ADD_BIAS = 4u; // out[r, c] += a[c]
const OP_FILL = 5u;     // out = alpha

fn flat_index(wg: vec3u, nwg: vec3u, li: u32) -> u32 {
  return (wg.y * nwg.x + wg.x) * WG + li;
}

@compute @workgroup_size(256)
fn map(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
       @builtin(local_invocation_index) li: u32) {
  let i = flat_index(wg, nwg, li);
  if (i >= params.n) { return; }
  switch params.op {
    case OP_ADD: { out[i] = load_a(i) + params.alpha * b[i]; }
    case OP_MUL: { out[i] = load_a(i) * b[i]; }
    case OP_SCALE: { out[i] = params.alpha * load_a(i); }
    case OP_AXPY: { out[i] += params.alpha * load_a(i); }
    case OP_ADD_BIAS: { out[i] += load_a(i % params.cols); }
    case OP_FILL: { out[i] = params.alpha; }
    default: {}
  }
}

@compute @workgroup_size(256)
fn col_sum(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let c = wg.x * WG + li;
  if (c >= params.cols) { return; }
  let r0 = wg.y * params.rowsPerChunk;
  let r1 = min(r0 + params.rowsPerChunk, params.n);
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += load_a(r * params.cols + c); }
  let o = wg.y * params.cols + c;
  if (params.accumulate != 0u) { s += out[o]; }
  out[o] = s;
}

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn sum_sq(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) li: u32) {
  var s = 0.0;
  for (var i = wg.x * WG + li; i < params.n; i += nwg.x * WG) {
    let v = load_a(i);
    s = fma(v, v, s);
  }
  partial[li] = s;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) { partial[li] += partial[li + h]; }
    workgroupBarrier();
  }
  if (li == 0u) { out[wg.x] = partial[0]; }
}

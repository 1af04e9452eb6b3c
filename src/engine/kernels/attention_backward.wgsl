// Causal GQA attention backward, FlashAttention-2 style: P is recomputed from q, k and the saved
// row log-sum-exp, never stored. With s_ij = scale · q_i·k_j, P_ij = exp(s_ij − lse_i) (attention.wgsl):
//   dv_j = Σ_i P_ij dO_i                      (out_i = Σ_j P_ij v_j)
//   dP_ij = dO_i · v_j,  dS_ij = P_ij (dP_ij − delta_i),  delta_i = Σ_j P_ij dP_ij = dO_i · out_i
//   dq_i = scale Σ_j dS_ij k_j,  dk_j = scale Σ_i dS_ij q_i     (s_ij = scale · q_i·k_j)
// Three entries, run in this order:
//   delta  stats [B, H, T] = (lse, dO·out) per row                  g0 = out, g1 = lse (read)
//   dq     one workgroup per (query block, kv head g, b), dq → g0   (g1 unused)
//   dkdv   one workgroup per (key block, kv head g, b), dk → g0, dv → g1; it loops over every query
//          row of the heads sharing g, so GQA's sum over heads needs no atomics.
// Layouts as attention.wgsl with kvRows = T and no past: q, dO, dq [B, T, H, D]; k, v, dk, dv
// [B, T, KV, D]; rows R = t·rep + hi of kv head g are head g·rep + hi. Both gradient kernels split
// each D-long dot product over 8 lanes (4 columns each, 4·(lane + 8j), j < 4: D ≤ 128) and finish it
// through workgroup memory: exactly 16 KB, the least WebGPU guarantees.

const LANES = 8u;
const DV = 32u; // vec4 per staged row: D ≤ 128

var<workgroup> tile_a: array<vec4<f32>, 256>; // [8][DV] dq: keys of the step;    dkdv: query rows
var<workgroup> tile_b: array<vec4<f32>, 256>; // [8][DV] dq: values of the step;  dkdv: their dO
var<workgroup> red_s: array<f32, 1024>;       // [16][8][LANES] partial q·k, then P or dS
var<workgroup> red_p: array<f32, 1024>;       // [16][8][LANES] partial dO·v, then dS

struct Row { t: u32, h: u32, live: bool }

fn row_of(R: u32, g: u32) -> Row {
  let rep = params.H / params.KV;
  let rows = params.T * rep;
  let Rc = min(R, rows - 1u);
  return Row(Rc / rep, g * rep + Rc % rep, R < rows);
}

fn sees(b: u32, t: u32, j: u32) -> bool {
  if (j > t) { return false; }
  if (params.hasMask == 0u || j == t) { return true; }
  return mask[b * params.maskStride + j] != 0u;
}

fn q_at(b: u32, t: u32, h: u32) -> u32 { return ((b * params.T + t) * params.H + h) * params.D; }
fn kv_at(b: u32, j: u32, g: u32) -> u32 { return ((b * params.T + j) * params.KV + g) * params.D; }
fn stat_at(b: u32, t: u32, h: u32) -> u32 { return (b * params.H + h) * params.T + t; }

// Four elements from d of a row starting at i, zero past D. Reads past D (the next row, or clamped
// at the buffer's end by WebGPU's bounds rules) are discarded; one loader per binding since WGSL
// cannot pass storage arrays around.
fn in_row(d: u32) -> vec4<bool> { return vec4<u32>(d, d + 1u, d + 2u, d + 3u) < vec4<u32>(params.D); }
fn q4(i: u32, d: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(q[i + d], q[i + d + 1u], q[i + d + 2u], q[i + d + 3u]), in_row(d));
}
fn k4(i: u32, d: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(k[i + d], k[i + d + 1u], k[i + d + 2u], k[i + d + 3u]), in_row(d));
}
fn v4(i: u32, d: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(v[i + d], v[i + d + 1u], v[i + d + 2u], v[i + d + 3u]), in_row(d));
}
fn do4(i: u32, d: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), vec4<f32>(dout[i + d], dout[i + d + 1u], dout[i + d + 2u], dout[i + d + 3u]), in_row(d));
}
fn store_g0(i: u32, d: u32, x: vec4<f32>) {
  if (d >= params.D) { return; }
  g0[i + d] = x.x;
  if (d + 1u < params.D) { g0[i + d + 1u] = x.y; }
  if (d + 2u < params.D) { g0[i + d + 2u] = x.z; }
  if (d + 3u < params.D) { g0[i + d + 3u] = x.w; }
}
fn store_g1(i: u32, d: u32, x: vec4<f32>) {
  if (d >= params.D) { return; }
  g1[i + d] = x.x;
  if (d + 1u < params.D) { g1[i + d + 1u] = x.y; }
  if (d + 2u < params.D) { g1[i + d + 2u] = x.z; }
  if (d + 3u < params.D) { g1[i + d + 3u] = x.w; }
}

// ---- delta: stats_i = (lse_i, dO_i · out_i) --------------------------------------------------

@compute @workgroup_size(64)
fn delta(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) li: u32) {
  let n = (wg.y * nwg.x + wg.x) * 64u + li; // row (b, t, h) of dO
  if (n >= params.B * params.T * params.H) { return; }
  let h = n % params.H;
  let t = (n / params.H) % params.T;
  let b = n / (params.H * params.T);
  var s = 0.0;
  for (var d = 0u; d < params.D; d++) { s = fma(dout[n * params.D + d], g0[n * params.D + d], s); }
  let i = stat_at(b, t, h);
  stats[i] = vec2<f32>(g1[i], s);
}

// ---- dq: thread (r, lane) of 16 query rows × 8 lanes ------------------------------------------

@compute @workgroup_size(128)
fn dq(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wg.y;
  let b = wg.z;
  let rows = params.T * (params.H / params.KV);
  let R0 = wg.x * 16u;
  let r = li / LANES;
  let lane = li % LANES;
  let me = row_of(R0 + r, g);
  let n4 = (params.D + 3u) / 4u;
  let qi = q_at(b, me.t, me.h);
  // This thread's four column groups of its row's q and dO, held in registers.
  let q0 = q4(qi, lane * 4u);
  let q1 = q4(qi, (lane + 8u) * 4u);
  let q2 = q4(qi, (lane + 16u) * 4u);
  let q3 = q4(qi, (lane + 24u) * 4u);
  let o0 = do4(qi, lane * 4u);
  let o1 = do4(qi, (lane + 8u) * 4u);
  let o2 = do4(qi, (lane + 16u) * 4u);
  let o3 = do4(qi, (lane + 24u) * 4u);
  let st = stats[stat_at(b, me.t, me.h)]; // (lse, delta)
  var a0 = vec4<f32>(0.0);
  var a1 = vec4<f32>(0.0);
  var a2 = vec4<f32>(0.0);
  var a3 = vec4<f32>(0.0);

  let kEnd = row_of(min(R0 + 16u, rows) - 1u, g).t + 1u; // causal: the block's last query
  for (var j0 = 0u; j0 < kEnd; j0 += 8u) {
    for (var i = li; i < 8u * DV; i += 128u) {
      let j = j0 + i / DV;
      let dv = i % DV;
      var kx = vec4<f32>(0.0);
      var vx = vec4<f32>(0.0);
      if (j < kEnd && dv < n4) {
        kx = k4(kv_at(b, j, g), dv * 4u);
        vx = v4(kv_at(b, j, g), dv * 4u);
      }
      tile_a[i] = kx;
      tile_b[i] = vx;
    }
    workgroupBarrier();
    // Partial q·k_c and dO·v_c over this lane's columns, for each key c of the step.
    for (var c = 0u; c < 8u; c++) {
      let kr = c * DV + lane;
      let ps = dot(q0, tile_a[kr]) + dot(q1, tile_a[kr + 8u]) + dot(q2, tile_a[kr + 16u]) + dot(q3, tile_a[kr + 24u]);
      let pd = dot(o0, tile_b[kr]) + dot(o1, tile_b[kr + 8u]) + dot(o2, tile_b[kr + 16u]) + dot(o3, tile_b[kr + 24u]);
      red_s[(r * 8u + c) * LANES + lane] = ps;
      red_p[(r * 8u + c) * LANES + lane] = pd;
    }
    workgroupBarrier();
    // Thread (r, lane) finishes key c = lane: its 8 slots are read by no other thread, so it
    // may overwrite the first with dS before the barrier.
    let slot = (r * 8u + lane) * LANES;
    var s = 0.0;
    var dp = 0.0;
    for (var l = 0u; l < LANES; l++) {
      s += red_s[slot + l];
      dp += red_p[slot + l];
    }
    let j = j0 + lane;
    var ds = 0.0;
    if (me.live && j < kEnd && sees(b, me.t, j)) {
      let p = exp(s * params.scale - st.x);
      ds = p * (dp - st.y);
    }
    red_s[slot] = ds;
    workgroupBarrier();
    for (var c = 0u; c < 8u; c++) {
      let dsc = vec4<f32>(red_s[(r * 8u + c) * LANES]);
      let kr = c * DV + lane;
      a0 = fma(dsc, tile_a[kr], a0);
      a1 = fma(dsc, tile_a[kr + 8u], a1);
      a2 = fma(dsc, tile_a[kr + 16u], a2);
      a3 = fma(dsc, tile_a[kr + 24u], a3);
    }
    workgroupBarrier();
  }

  if (!me.live) { return; }
  let sc = params.scale;
  store_g0(qi, lane * 4u, a0 * sc);
  store_g0(qi, (lane + 8u) * 4u, a1 * sc);
  store_g0(qi, (lane + 16u) * 4u, a2 * sc);
  store_g0(qi, (lane + 24u) * 4u, a3 * sc);
}

// ---- dk, dv: thread (c, lane) of 16 keys × 8 lanes; 8 query rows per step ---------------------

@compute @workgroup_size(128)
fn dkdv(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wg.y;
  let b = wg.z;
  let rep = params.H / params.KV;
  let rows = params.T * rep;
  let j0 = wg.x * 16u;
  let c = li / LANES;
  let lane = li % LANES;
  let j = j0 + c;
  let keyLive = j < params.T;
  let n4 = (params.D + 3u) / 4u;
  let ki = kv_at(b, min(j, params.T - 1u), g);
  let k0 = k4(ki, lane * 4u);
  let k1 = k4(ki, (lane + 8u) * 4u);
  let k2 = k4(ki, (lane + 16u) * 4u);
  let k3 = k4(ki, (lane + 24u) * 4u);
  let v0 = v4(ki, lane * 4u);
  let v1 = v4(ki, (lane + 8u) * 4u);
  let v2 = v4(ki, (lane + 16u) * 4u);
  let v3 = v4(ki, (lane + 24u) * 4u);
  var dk0 = vec4<f32>(0.0);
  var dk1 = vec4<f32>(0.0);
  var dk2 = vec4<f32>(0.0);
  var dk3 = vec4<f32>(0.0);
  var dv0 = vec4<f32>(0.0);
  var dv1 = vec4<f32>(0.0);
  var dv2 = vec4<f32>(0.0);
  var dv3 = vec4<f32>(0.0);

  // Causal: only queries t ≥ j0 see this block's keys; rows from (j0, head g·rep), 8-aligned.
  for (var R0 = (j0 * rep / 8u) * 8u; R0 < rows; R0 += 8u) {
    for (var i = li; i < 8u * DV; i += 128u) {
      let row = row_of(R0 + i / DV, g);
      let dv = i % DV;
      var qx = vec4<f32>(0.0);
      var ox = vec4<f32>(0.0);
      if (row.live && dv < n4) {
        qx = q4(q_at(b, row.t, row.h), dv * 4u);
        ox = do4(q_at(b, row.t, row.h), dv * 4u);
      }
      tile_a[i] = qx;
      tile_b[i] = ox;
    }
    workgroupBarrier();
    // Partial k_c·q_rr and v_c·dO_rr over this lane's columns, for each query row rr of the step.
    for (var rr = 0u; rr < 8u; rr++) {
      let qr = rr * DV + lane;
      let ps = dot(k0, tile_a[qr]) + dot(k1, tile_a[qr + 8u]) + dot(k2, tile_a[qr + 16u]) + dot(k3, tile_a[qr + 24u]);
      let pd = dot(v0, tile_b[qr]) + dot(v1, tile_b[qr + 8u]) + dot(v2, tile_b[qr + 16u]) + dot(v3, tile_b[qr + 24u]);
      red_s[(c * 8u + rr) * LANES + lane] = ps;
      red_p[(c * 8u + rr) * LANES + lane] = pd;
    }
    workgroupBarrier();
    // Thread (c, lane) finishes query row rr = lane and keeps P and dS in its own first slots.
    let slot = (c * 8u + lane) * LANES;
    var s = 0.0;
    var dp = 0.0;
    for (var l = 0u; l < LANES; l++) {
      s += red_s[slot + l];
      dp += red_p[slot + l];
    }
    let row = row_of(R0 + lane, g);
    var p = 0.0;
    var ds = 0.0;
    if (keyLive && row.live && sees(b, row.t, j)) {
      let st = stats[stat_at(b, row.t, row.h)];
      p = exp(s * params.scale - st.x);
      ds = p * (dp - st.y);
    }
    red_s[slot] = p;
    red_p[slot] = ds;
    workgroupBarrier();
    for (var rr = 0u; rr < 8u; rr++) {
      let pc = vec4<f32>(red_s[(c * 8u + rr) * LANES]);
      let dsc = vec4<f32>(red_p[(c * 8u + rr) * LANES]);
      let qr = rr * DV + lane;
      dv0 = fma(pc, tile_b[qr], dv0);
      dv1 = fma(pc, tile_b[qr + 8u], dv1);
      dv2 = fma(pc, tile_b[qr + 16u], dv2);
      dv3 = fma(pc, tile_b[qr + 24u], dv3);
      dk0 = fma(dsc, tile_a[qr], dk0);
      dk1 = fma(dsc, tile_a[qr + 8u], dk1);
      dk2 = fma(dsc, tile_a[qr + 16u], dk2);
      dk3 = fma(dsc, tile_a[qr + 24u], dk3);
    }
    workgroupBarrier();
  }

  if (!keyLive) { return; }
  let sc = params.scale;
  store_g0(ki, lane * 4u, dk0 * sc);
  store_g0(ki, (lane + 8u) * 4u, dk1 * sc);
  store_g0(ki, (lane + 16u) * 4u, dk2 * sc);
  store_g0(ki, (lane + 24u) * 4u, dk3 * sc);
  store_g1(ki, lane * 4u, dv0);
  store_g1(ki, (lane + 8u) * 4u, dv1);
  store_g1(ki, (lane + 16u) * 4u, dv2);
  store_g1(ki, (lane + 24u) * 4u, dv3);
}

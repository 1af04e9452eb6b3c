// Causal GQA attention forward, flash-attention style: out = softmax(q kᵀ · scale + mask) v without
// materialising the [T, S] scores. q [B, T, H, D]; k, v [B, kvRows, KV, D] (kvRows = T in training,
// the cache's length in decoding); out [B, T, H, D]; lse [B, H, T] = log Σ_j exp(s_ij) for backward.
//
// A workgroup takes one kv head g of one batch row and a block of BR query rows of the heads that
// share g — row R = t·rep + hi is head g·rep + hi at query t — so each key/value tile it stages
// serves all of g's heads. It streams keys BC at a time through workgroup memory with an online
// softmax: running max m, sum l and unnormalised accumulator acc, rescaled by exp(m_old − m_new).
// Thread (r, lane) scores row r against key `lane` of the step and owns columns 4·(lane + 8j)..+3,
// j < 4, of row r's accumulator (D ≤ 128). 13 KB of workgroup memory (WebGPU guarantees 16 KB).
//
// Query t sits at position past + t and sees key j iff j ≤ past + t and (mask[b, j] = 1 or j is its
// own position), as model.py's causal_mask: a padding row still sees itself, so no row is empty.
// Keys can be split between workgroups (grid y = KV · splits, for decoding a long cache with few
// queries): split s covers keys [s·splitLen, (s+1)·splitLen) and writes its own normalised out and
// lse at offset s·B·T·H·D and s·B·H·T; attention_decode.wgsl merges them. A split that sees no key
// writes out = 0 and lse = MASKED.

const BR = 16u;     // query rows per workgroup
const BC = 8u;      // keys per step
const LANES = 8u;   // threads per query row
const DV = 32u;     // vec4 per staged row: D ≤ 128
const MASKED = -1e30; // score of a key a row does not see: finite (WGSL assumes finite floats), exp → 0

var<workgroup> qs: array<vec4<f32>, 512>;  // [BR][DV] the block's query rows
var<workgroup> kvs: array<vec4<f32>, 256>; // [BC][DV] one step's keys, then its values
var<workgroup> sc: array<f32, 128>;        // [BR][BC] scores
var<workgroup> pr: array<f32, 128>;        // [BR][BC] exp(score − running max)

struct Row { t: u32, h: u32, live: bool }

// Row R of kv head g's block rows; rows past the end alias the last row and are not written.
fn row_of(R: u32, g: u32) -> Row {
  let rep = params.H / params.KV;
  let rows = params.T * rep;
  let Rc = min(R, rows - 1u);
  return Row(Rc / rep, g * rep + Rc % rep, R < rows);
}

fn sees(b: u32, pos: u32, j: u32) -> bool {
  if (j > pos) { return false; }
  if (params.hasMask == 0u || j == pos) { return true; }
  return mask[b * params.maskStride + j] != 0u;
}

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

fn q_at(b: u32, t: u32, h: u32) -> u32 { return ((b * params.T + t) * params.H + h) * params.D; }
fn kv_at(b: u32, j: u32, g: u32) -> u32 { return ((b * params.kvRows + j) * params.KV + g) * params.D; }

// Stages keys (values) j0 .. j0 + BC − 1 below kEnd into kvs; zero elsewhere. Two functions, not
// one with a flag: the software adapter's compile time grows with inlined code.
fn stage_k(b: u32, g: u32, j0: u32, kEnd: u32, li: u32) {
  for (var i = li; i < BC * DV; i += BR * LANES) {
    let j = j0 + i / DV;
    let d = (i % DV) * 4u;
    var x = vec4<f32>(0.0);
    if (j < kEnd && d < params.D) { x = k4(kv_at(b, j, g), d); }
    kvs[i] = x;
  }
}
fn stage_v(b: u32, g: u32, j0: u32, kEnd: u32, li: u32) {
  for (var i = li; i < BC * DV; i += BR * LANES) {
    let j = j0 + i / DV;
    let d = (i % DV) * 4u;
    var x = vec4<f32>(0.0);
    if (j < kEnd && d < params.D) { x = v4(kv_at(b, j, g), d); }
    kvs[i] = x;
  }
}

fn store4(i: u32, d: u32, x: vec4<f32>) {
  if (d >= params.D) { return; }
  out[i + d] = x.x;
  if (d + 1u < params.D) { out[i + d + 1u] = x.y; }
  if (d + 2u < params.D) { out[i + d + 2u] = x.z; }
  if (d + 3u < params.D) { out[i + d + 3u] = x.w; }
}

@compute @workgroup_size(128)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let g = wg.y % params.KV;
  let split = wg.y / params.KV;
  let b = wg.z;
  let rows = params.T * (params.H / params.KV);
  let R0 = wg.x * BR;
  let r = li / LANES;
  let lane = li % LANES;
  let me = row_of(R0 + r, g);
  let pos = params.past + me.t;
  let n4 = (params.D + 3u) / 4u;

  for (var i = li; i < BR * DV; i += BR * LANES) {
    let row = row_of(R0 + i / DV, g);
    let dv = i % DV;
    var x = vec4<f32>(0.0);
    if (row.live && dv < n4) { x = q4(q_at(b, row.t, row.h), dv * 4u); }
    qs[i] = x;
  }

  // This split's keys, cut at the block's last query position (causal).
  let last = row_of(min(R0 + BR, rows) - 1u, g);
  let kBegin = split * params.splitLen;
  let kEnd = min(min(params.S, kBegin + params.splitLen), params.past + last.t + 1u);

  var m = MASKED;
  var l = 0.0;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var j0 = kBegin; j0 < kEnd; j0 += BC) {
    stage_k(b, g, j0, kEnd, li);
    workgroupBarrier();
    let j = j0 + lane;
    var s = MASKED;
    if (me.live && j < kEnd && sees(b, pos, j)) {
      var qk = 0.0;
      for (var dv = 0u; dv < n4; dv++) { qk += dot(qs[r * DV + dv], kvs[lane * DV + dv]); }
      s = qk * params.scale;
    }
    sc[r * BC + lane] = s;
    workgroupBarrier();

    // Online softmax: every lane of row r computes the same running max.
    var mStep = MASKED;
    for (var c = 0u; c < BC; c++) { mStep = max(mStep, sc[r * BC + c]); }
    let mNew = max(m, mStep);
    let alpha = exp(m - mNew);
    m = mNew;
    var p = 0.0;
    if (s > MASKED) { p = exp(s - mNew); }
    pr[r * BC + lane] = p;
    stage_v(b, g, j0, kEnd, li); // every read of the keys happened before the last barrier
    workgroupBarrier();

    var sum = 0.0;
    acc0 *= alpha;
    acc1 *= alpha;
    acc2 *= alpha;
    acc3 *= alpha;
    for (var c = 0u; c < BC; c++) {
      let pc = pr[r * BC + c];
      let row = c * DV + lane;
      sum += pc;
      acc0 = fma(vec4<f32>(pc), kvs[row], acc0);
      acc1 = fma(vec4<f32>(pc), kvs[row + 8u], acc1);
      acc2 = fma(vec4<f32>(pc), kvs[row + 16u], acc2);
      acc3 = fma(vec4<f32>(pc), kvs[row + 24u], acc3);
    }
    l = l * alpha + sum;
    workgroupBarrier();
  }

  if (!me.live) { return; }
  var inv = 0.0;
  var rowLse = MASKED;
  if (l > 0.0) {
    inv = 1.0 / l;
    rowLse = m + log(l);
  }
  let o = split * params.B * params.T * params.H * params.D + q_at(b, me.t, me.h);
  store4(o, lane * 4u, acc0 * inv);
  store4(o, (lane + 8u) * 4u, acc1 * inv);
  store4(o, (lane + 16u) * 4u, acc2 * inv);
  store4(o, (lane + 24u) * 4u, acc3 * inv);
  if (lane == 0u) { lse[split * params.B * params.H * params.T + (b * params.H + me.h) * params.T + me.t] = rowLse; }
}

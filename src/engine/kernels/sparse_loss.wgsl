// Distillation loss against sparse teacher targets (DESIGN.md "Sparse teacher targets"), forward and
// backward in one kernel, one workgroup per token row of the student logits zs [R, strideS]. The
// teacher gives ids [N, k] (i32, < 0 = unused slot) and logprobs [N, k] at T = 1. On k + 1 bins:
//   teacher  q_j = exp(logprob_j),                q_tail = max(0, 1 − Σ q_j)
//   student  p_j = exp(z[id_j] − lse(z)),         p_tail = exp(lse(z over ids not listed) − lse(z))
// tempered as mass^(1/T) renormalised over the bins with mass (log P = log q/T − lse_bins(log q/T));
// D(P_t ‖ P_s) on the bins. When the ids cover the vocabulary there is no tail (both masses 0).
//   parts[row] = (T²·D, CE = lse(z) − z[y]);  zs[row] ← dL/dz IN PLACE (scale = 1/count).
// Backward: u_b = α·T²·scale·∂D/∂(log p_b) through the tempering softmax = α·T·scale·(r_b − P_s,b·Σr)
// (see distill_loss.wgsl). Then, differentiating the student bins above:
//   log p_j    = z[id_j] − lse(z)           → ∂/∂z_v = δ(v = id_j) − p1_v
//   log p_tail = lse_tail(z) − lse(z)       → ∂/∂z_v = [v not listed]·exp(z_v − lse_tail) − p1_v
// and Σ_b u_b = 0 (a softmax gradient), so the −p1_v terms cancel:
//   dz[id_j] = u_j,   dz[v not listed] = u_tail·exp(z_v − lse_tail)        (+ the CE's p1_v − δ_vy).
// lse_tail is summed over the unlisted logits only — not 1 − Σp, which cancels when the top-k hold
// nearly all the mass: the listed logits are copied to `stash` [R, k] and overwritten by LOWEST in
// place (the row is ours: it becomes the gradient), so one pass over the row skips them.

var<workgroup> red4: array<vec4<f32>, 256>;
var<workgroup> red2: array<vec2<f32>, 256>;
var<workgroup> label_logit: f32;
var<workgroup> label_wg: i32;

const DEAD = -1e30; // log of a zero mass, finite (see distill_loss_common.wgsl)

fn slot_id(token: u32, j: u32) -> i32 {
  let id = ids[token * params.k + j];
  return select(-1, id, id >= 0 && u32(id) < params.V);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.rows) { return; }
  let token = params.rowOffset + row;
  if (li == 0u) { label_wg = labels[token]; }
  let y = workgroupUniformLoad(&label_wg);
  let base = row * params.strideS;
  let sbase = row * params.k;
  let V = params.V;
  let k = params.k;
  let T = params.T;

  if (y < 0 || u32(y) >= V) {
    for (var v = li; v < params.strideS; v += WG) { zs[base + v] = 0.0; }
    if (li == 0u) {
      parts[2u * token] = 0.0;
      parts[2u * token + 1u] = select(F32_MAX, 0.0, y < 0);
    }
    return;
  }

  // (1) stash the listed logits and the label's, then mark the listed columns.
  for (var j = li; j < k; j += WG) {
    let id = slot_id(token, j);
    stash[sbase + j] = select(0.0, zs[base + u32(max(id, 0))], id >= 0);
  }
  if (li == 0u) { label_logit = zs[base + u32(y)]; }
  storageBarrier();
  workgroupBarrier();
  for (var j = li; j < k; j += WG) {
    let id = slot_id(token, j);
    if (id >= 0) { zs[base + u32(id)] = LOWEST; }
  }
  storageBarrier();
  workgroupBarrier();

  // (2) lse over the unlisted logits (tail), over the listed ones (top), and Σ q_j.
  var tail = vec2<f32>(LOWEST, 0.0);
  for (var v = li; v < V; v += WG) {
    let z = zs[base + v];
    if (z > LOWEST) { tail = push(tail, z); }
  }
  var top = vec2<f32>(LOWEST, 0.0);
  var qsum = 0.0;
  for (var j = li; j < k; j += WG) {
    if (slot_id(token, j) >= 0) {
      top = push(top, stash[sbase + j]);
      qsum += exp(logprobs[token * k + j]);
    }
  }
  red4[li] = vec4<f32>(tail, top);
  red2[li] = vec2<f32>(qsum, 0.0);
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      let a = red4[li];
      let b = red4[li + h];
      red4[li] = vec4<f32>(merge(a.xy, b.xy), merge(a.zw, b.zw));
      red2[li] += red2[li + h];
    }
    workgroupBarrier();
  }
  let tt = red4[0];
  let qSum = red2[0].x;
  workgroupBarrier();
  let hasTail = tt.y > 0.0;
  let whole = merge(tt.xy, tt.zw);
  let lse = whole.x + log(whole.y);
  let lseTail = select(0.0, tt.x + log(tt.y), hasTail);
  // Untempered tail bins (log mass), DEAD when empty.
  let qTail = 1.0 - qSum;
  let tailLive = vec2<bool>(hasTail && qTail > 0.0, hasTail); // (teacher, student)
  let ltTail = select(DEAD, log(max(qTail, 1e-30)), tailLive.x);
  let lsTail = select(DEAD, lseTail - lse, tailLive.y);

  // (3) lse of the tempered bins, teacher and student, over the bins with mass.
  var bt = vec2<f32>(LOWEST, 0.0);
  var bs = vec2<f32>(LOWEST, 0.0);
  for (var j = li; j < k; j += WG) {
    if (slot_id(token, j) >= 0) {
      bt = push(bt, logprobs[token * k + j] / T);
      bs = push(bs, (stash[sbase + j] - lse) / T);
    }
  }
  red4[li] = vec4<f32>(bt, bs);
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      let a = red4[li];
      let b = red4[li + h];
      red4[li] = vec4<f32>(merge(a.xy, b.xy), merge(a.zw, b.zw));
    }
    workgroupBarrier();
  }
  var bins = red4[0];
  workgroupBarrier();
  if (tailLive.x) { bins = vec4<f32>(push(bins.xy, ltTail / T), bins.zw); }
  if (tailLive.y) { bins = vec4<f32>(bins.xy, push(bins.zw, lsTail / T)); }
  let lseBt = bins.x + log(bins.y);
  let lseBs = bins.z + log(bins.w);

  // (4) D and Σr over the bins; the tail's term once, by thread 0.
  var acc = vec2<f32>(0.0, 0.0);
  for (var j = li; j < k; j += WG) {
    if (slot_id(token, j) >= 0) {
      acc += divergence_term(logprobs[token * k + j] / T - lseBt, (stash[sbase + j] - lse) / T - lseBs);
    }
  }
  let tailTerm = select(vec2<f32>(0.0, 0.0), divergence_term(ltTail / T - lseBt, lsTail / T - lseBs), tailLive.y);
  if (li == 0u) { acc += tailTerm; }
  red2[li] = acc;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) { red2[li] += red2[li + h]; }
    workgroupBarrier();
  }
  let D = red2[0].x;
  let sumR = red2[0].y;
  if (li == 0u) {
    parts[2u * token] = T * T * D;
    parts[2u * token + 1u] = lse - label_logit;
  }

  // (5) gradient: the unlisted columns (still marked LOWEST where listed), then the listed ones.
  let soft = params.alpha * T * params.scale;
  let hard = (1.0 - params.alpha) * params.scale;
  let uTail = select(0.0, soft * (tailTerm.y - exp(lsTail / T - lseBs) * sumR), tailLive.y);
  for (var v = li; v < V; v += WG) {
    let z = zs[base + v];
    if (z > LOWEST) {
      zs[base + v] = uTail * exp(z - lseTail) + hard * (exp(z - lse) - select(0.0, 1.0, v == u32(y)));
    }
  }
  for (var v = V + li; v < params.strideS; v += WG) { zs[base + v] = 0.0; }
  storageBarrier();
  workgroupBarrier();
  for (var j = li; j < k; j += WG) {
    let id = slot_id(token, j);
    if (id >= 0) {
      let z = stash[sbase + j];
      let lq = (z - lse) / T - lseBs;
      let r = divergence_term(logprobs[token * k + j] / T - lseBt, lq).y;
      zs[base + u32(id)] = soft * (r - exp(lq) * sumR) + hard * (exp(z - lse) - select(0.0, 1.0, id == y));
    }
  }
}

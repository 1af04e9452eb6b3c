// Distillation loss of token rows, forward and backward in one kernel: one workgroup per row of the
// student logits zs [R, strideS] (teacher logits zt [R, strideT]); only the first V columns are the
// vocabulary, padded columns get a zero gradient. For one token, with p = softmax(zt/T) (teacher),
// q = softmax(zs/T) (student), q1 = softmax(zs) and label y:
//   parts[row] = (T²·D(p ‖ q), CE = −log q1[y])       (summed over rows and scaled by 1/count later)
//   zs[row]   ← dL/dzs = scale · (α·T²·∂D/∂zs + (1 − α)·∂CE/∂zs)     IN PLACE, scale = 1/count.
// Backward, derived once for every divergence: write r_i = ∂D/∂(log q_i) with the q_i free; since
// log q = z/T − lse(z/T), ∂(log q_i)/∂z_j = (δ_ij − q_j)/T, so ∂D/∂z_j = (r_j − q_j·Σr)/T and
//   α·T²·∂D/∂z_j = α·T·(r_j − q_j·Σr).
// Forward KL: r = −p, Σr = −1 → α·T·(q − p). CE: ∂/∂z_j = q1_j − δ_jy.
// A row whose label is < 0 is masked: zero gradient, zero parts. A label ≥ V writes f32 max into the
// CE part (no NaN: WGSL compilers may assume floats are finite) so the batch loss shows it.
// divergence_term (r and D per entry) and the online log-sum-exp helpers are in distill_loss_common.wgsl,
// prepended by the launcher.
// Three passes over the row: (1) online (max, Σexp) for z/T, t/T and z; (2) D and Σr; (3) gradient.

var<workgroup> red4: array<vec4<f32>, 256>;
var<workgroup> red2: array<vec2<f32>, 256>;
var<workgroup> label_logit: f32;
var<workgroup> label_wg: i32;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.rows) { return; }
  let token = params.rowOffset + row;
  if (li == 0u) { label_wg = labels[token]; }
  let y = workgroupUniformLoad(&label_wg); // uniform, so a masked row may return before the barriers
  let base = row * params.strideS;
  let tbase = row * params.strideT;
  let V = params.V;
  let T = params.T;
  let teacher = params.hasTeacher != 0u;

  if (y < 0 || u32(y) >= V) {
    for (var v = li; v < params.strideS; v += WG) { zs[base + v] = 0.0; }
    if (li == 0u) {
      parts[2u * token] = 0.0;
      parts[2u * token + 1u] = select(F32_MAX, 0.0, y < 0);
    }
    return;
  }

  // (1) log-sum-exps: student at T, teacher at T, student at 1.
  var sT = vec2<f32>(LOWEST, 0.0);
  var tT = vec2<f32>(LOWEST, 0.0);
  var s1 = vec2<f32>(LOWEST, 0.0);
  for (var v = li; v < V; v += WG) {
    let z = zs[base + v];
    sT = push(sT, z / T);
    s1 = push(s1, z);
    if (teacher) { tT = push(tT, zt[tbase + v] / T); }
  }
  red4[li] = vec4<f32>(sT, tT);
  red2[li] = s1;
  workgroupBarrier();
  for (var h = WG / 2u; h > 0u; h >>= 1u) {
    if (li < h) {
      let a = red4[li];
      let b = red4[li + h];
      red4[li] = vec4<f32>(merge(a.xy, b.xy), merge(a.zw, b.zw));
      red2[li] = merge(red2[li], red2[li + h]);
    }
    workgroupBarrier();
  }
  let st = red4[0];
  let lseS = st.x + log(st.y);
  let lseT = st.z + log(st.w);
  let lse1 = red2[0].x + log(red2[0].y);
  workgroupBarrier(); // everyone has read red4[0], red2[0] before they are reused

  // (2) D and Σr; the thread that owns column y keeps its logit (it alone overwrites it in pass 3).
  var acc = vec2<f32>(0.0, 0.0);
  for (var v = li; v < V; v += WG) {
    let z = zs[base + v];
    if (v == u32(y)) { label_logit = z; }
    if (teacher) { acc += divergence_term(zt[tbase + v] / T - lseT, z / T - lseS); }
  }
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
    parts[2u * token + 1u] = lse1 - label_logit;
  }

  // (3) dL/dz = scale · (α·T·(r − q·Σr) + (1 − α)·(q1 − δ_y)), in place.
  let soft = params.alpha * T * params.scale;
  let hard = (1.0 - params.alpha) * params.scale;
  for (var v = li; v < V; v += WG) {
    let z = zs[base + v];
    var g = hard * (exp(z - lse1) - select(0.0, 1.0, v == u32(y)));
    if (teacher) {
      let lq = z / T - lseS;
      let r = divergence_term(zt[tbase + v] / T - lseT, lq).y;
      g += soft * (r - exp(lq) * sumR);
    }
    zs[base + v] = g;
  }
  for (var v = V + li; v < params.strideS; v += WG) { zs[base + v] = 0.0; }
}

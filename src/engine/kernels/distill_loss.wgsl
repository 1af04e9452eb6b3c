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
// Three passes over the row: (1) online (max, Σexp) for z/T, t/T and z; (2) D and Σr; (3) gradient.

const WG = 256u;
const LOWEST = -3.4028234663852886e38; // a finite −∞
const F32_MAX = 3.4028234663852886e38;

const KIND_FORWARD_KL = 0u;
const KIND_REVERSE_KL = 1u;
const KIND_GJSD = 2u;
const KIND_SKEW_KL = 3u;
const KIND_SKEW_REVERSE_KL = 4u;
const KIND_TVD = 5u;

var<workgroup> red4: array<vec4<f32>, 256>;
var<workgroup> red2: array<vec2<f32>, 256>;
var<workgroup> label_logit: f32;
var<workgroup> label_wg: i32;

// Online (max m, Σ exp(x − m)) with one more value x.
fn push(acc: vec2<f32>, x: f32) -> vec2<f32> {
  if (x > acc.x) { return vec2<f32>(x, acc.y * exp(acc.x - x) + 1.0); }
  return vec2<f32>(acc.x, acc.y + exp(x - acc.x));
}

fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// log(w·e^la + (1 − w)·e^lb), the endpoints exact.
fn log_mix(w: f32, la: f32, lb: f32) -> f32 {
  if (w <= 0.0) { return lb; }
  if (w >= 1.0) { return la; }
  let x = log(w) + la;
  let y = log(1.0 - w) + lb;
  let m = max(x, y);
  return m + log(exp(x - m) + exp(y - m));
}

// (D's term for one vocabulary entry, r = ∂D/∂log q) from lp = log p (teacher), lq = log q (student).
fn divergence_term(lp: f32, lq: f32) -> vec2<f32> {
  let p = exp(lp);
  let q = exp(lq);
  if (KIND == KIND_FORWARD_KL) {
    // D = Σ p (log p − log q);  ∂D/∂q = −p/q → r = −p
    return vec2<f32>(p * (lp - lq), -p);
  }
  if (KIND == KIND_REVERSE_KL) {
    // D = Σ q (log q − log p);  ∂D/∂q = log q − log p + 1 → r = q (log q − log p + 1)
    return vec2<f32>(q * (lq - lp), q * (lq - lp + 1.0));
  }
  if (KIND == KIND_GJSD) {
    // M = β p + (1 − β) q;  D = β KL(p‖M) + (1 − β) KL(q‖M);
    // ∂D/∂q = (1 − β) log(q/M) (the −β p/M·(1−β) and (1−β)(1 − (1−β)q/M) terms cancel) → r = (1 − β) q log(q/M)
    let b = params.beta;
    let lm = log_mix(b, lp, lq);
    return vec2<f32>(b * p * (lp - lm) + (1.0 - b) * q * (lq - lm), (1.0 - b) * q * (lq - lm));
  }
  if (KIND == KIND_SKEW_KL) {
    // m = λ p + (1 − λ) q;  D = KL(p‖m);  ∂D/∂q = −(1 − λ) p/m → r = −(1 − λ) p q/m
    let l = params.lambda;
    let lm = log_mix(l, lp, lq);
    return vec2<f32>(p * (lp - lm), -(1.0 - l) * exp(lp + lq - lm));
  }
  if (KIND == KIND_SKEW_REVERSE_KL) {
    // m = λ q + (1 − λ) p;  D = KL(q‖m);  ∂D/∂q = log(q/m) + 1 − λ q/m → r = q (log(q/m) + 1 − λ q/m)
    let l = params.lambda;
    let lm = log_mix(l, lq, lp);
    return vec2<f32>(q * (lq - lm), q * (lq - lm + 1.0 - l * exp(lq - lm)));
  }
  // KIND_TVD: D = ½ Σ |p − q|;  ∂D/∂q = ½ sign(q − p) → r = ½ q sign(q − p)
  return vec2<f32>(0.5 * abs(p - q), 0.5 * q * sign(q - p));
}

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

// Shared by the dense and sparse loss kernels (prepended to their source): online log-sum-exp pairs and
// the divergences D(p ‖ q) per entry. KIND is the variant constant, params.beta / params.lambda
// uniforms. divergence_term returns an entry's term of D and r = ∂D/∂(log q) with the q free; the
// kernels chain r through their softmax. lp, lq are finite: a zero mass is a finite stand-in ≤ −1e30,
// which keeps every term exact where D is finite; where D is infinite (reverse KL, or skew-reverse
// KL at λ = 0, against a teacher bin of zero mass) the term comes out ~1e30 instead of ∞.

const WG = 256u;
const LOWEST = -3.4028234663852886e38; // a finite −∞
const F32_MAX = 3.4028234663852886e38;

// Online (max m, Σ exp(x − m)) with one more value x.
fn push(acc: vec2<f32>, x: f32) -> vec2<f32> {
  if (x > acc.x) { return vec2<f32>(x, acc.y * exp(acc.x - x) + 1.0); }
  return vec2<f32>(acc.x, acc.y + exp(x - acc.x));
}

fn merge(a: vec2<f32>, b: vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

const KIND_FORWARD_KL = 0u;
const KIND_REVERSE_KL = 1u;
const KIND_GJSD = 2u;
const KIND_SKEW_KL = 3u;
const KIND_SKEW_REVERSE_KL = 4u;
const KIND_TVD = 5u;

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
    // ∂D/∂q = −β(1 − β) p/M + (1 − β)(log(q/M) + 1 − (1 − β) q/M) = (1 − β) log(q/M)   (βp + (1 − β)q = M)
    // → r = (1 − β) q log(q/M)
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

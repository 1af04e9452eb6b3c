// AdamW's per-step scalars, computed on the GPU so that neither clipping nor the NaN/Inf guard needs a
// read back. One invocation: from the grad-norm result `norm` ([‖g‖² bits, nonfinite]) it updates the
// optimizer state `hyper` = [t, skipped, clip, step_size, sqrt(bc2)] (u32, floats as bits):
//   gradients not finite → skipped = 1 and t stays (as torch with GradScaler: a skipped step is no step);
//   else t += 1 and this step's clip coefficient and bias corrections.

// 1 − β^t = −expm1(t·ln β), accurately when β^t is near 1 (the first steps, where bias correction
// matters most): a series below |x| = 0.5, where 1 − exp(x) would cancel.
fn one_minus_pow(ln_beta: f32, t: f32) -> f32 {
  let x = ln_beta * t;
  if (x > -0.5) {
    var r = 1.0; // Σ xⁿ/(n+1)! by Horner: 1 + x/2·(1 + x/3·(1 + …))
    for (var k = 12.0; k >= 2.0; k -= 1.0) {
      r = 1.0 + x * r / k;
    }
    return -x * r;
  }
  return 1.0 - exp(x);
}

@compute @workgroup_size(1)
fn prepare() {
  if (norm[1] != 0u) {
    hyper[1] = 1u;
    return;
  }
  let t = hyper[0] + 1u;
  hyper[0] = t;
  hyper[1] = 0u;
  var clip = 1.0;
  if (params.maxNorm > 0.0) {
    // torch.nn.utils.clip_grad_norm_: coef = max_norm / (‖g‖ + 1e-6), clamped to 1
    clip = min(1.0, params.maxNorm / (sqrt(bitcast<f32>(norm[0])) + 1e-6));
  }
  hyper[2] = bitcast<u32>(clip);
  hyper[3] = bitcast<u32>(params.lr / one_minus_pow(params.lnBeta1, f32(t)));
  hyper[4] = bitcast<u32>(sqrt(one_minus_pow(params.lnBeta2, f32(t))));
}

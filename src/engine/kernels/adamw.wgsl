// AdamW update of one parameter, as torch.optim.AdamW after clip_grad_norm_, one invocation per
// element. The clip coefficient and bias corrections come from `hyper` (written by adamw_prepare on
// the GPU); when that step was skipped for NaN/Inf gradients nothing is written.

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_index) li: u32) {
  let i = (wg.y * params.groupsX + wg.x) * 256u + li;
  if (i >= params.n || hyper[1] != 0u) {
    return;
  }
  let g = grad[i] * bitcast<f32>(hyper[2]);
  let step_size = bitcast<f32>(hyper[3]);
  let bc2_sqrt = bitcast<f32>(hyper[4]);
  // Same order and roundings as torch's single-tensor AdamW:
  let p = param[i] * params.decay;                                  // param.mul_(1 - lr * wd)
  let m = exp_avg[i] * params.beta1 + params.oneMinusBeta1 * g;      // exp_avg.mul_(β1).add_(g, alpha=1-β1)
  let v = exp_avg_sq[i] * params.beta2 + params.oneMinusBeta2 * g * g; // exp_avg_sq.mul_(β2).addcmul_(g, g, value=1-β2)
  let denom = sqrt(v) / bc2_sqrt + params.eps;                     // (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps)
  param[i] = p + (-step_size) * (m / denom);                       // param.addcdiv_(exp_avg, denom, value=-step_size)
  exp_avg[i] = m;
  exp_avg_sq[i] = v;
}

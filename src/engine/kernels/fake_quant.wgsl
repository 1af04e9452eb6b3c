// Fake quantization, the QAT forward: every weight replaced by its value on the quantization grid.
// The grid is defined in src/core/quant.ts (read its header); this follows it operation for
// operation in f32, with round() = round half to even as WGSL specifies.
// One invocation per group of params.groupSize consecutive weights, two passes over the group (its
// range, then the rounding): groups are 32–128 weights for int4 and one row for int8, and no
// barriers is what software adapters need (see rmsnorm_rows.wgsl).
// Backward is the straight-through estimator (ops.ts): no kernel.
// Bindings: w (read), wq (read_write). Variants: BITS (4 | 8), SYMMETRIC. params.invSteps = fl(1/qmax)
// or fl(1/(2^BITS − 1)), computed on the host: a product rounds exactly here, a division may not.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = gid.y * nwg.x * 64u + gid.x;
  if (g >= params.groups) { return; }
  let base = g * params.groupSize;
  let end = base + params.groupSize;
  let levels = f32((1u << BITS) - 1u);
  let qmax = f32((1u << (BITS - 1u)) - 1u);
  let fltMin = bitcast<f32>(0x00800000u); // smallest normal f32: an all-zero group stays zero
  var lo = 0.0; // the range always holds 0
  var hi = 0.0;
  for (var i = base; i < end; i++) {
    let v = w[i];
    if (SYMMETRIC) {
      hi = max(hi, abs(v));
    } else {
      lo = min(lo, v);
      hi = max(hi, v);
    }
  }
  if (SYMMETRIC) {
    let s = max(hi * params.invSteps, fltMin);
    for (var i = base; i < end; i++) {
      wq[i] = clamp(round(w[i] / s), -qmax, qmax) * s;
    }
  } else {
    let s = max((hi - lo) * params.invSteps, fltMin);
    let z = clamp(round(-lo / s), 0.0, levels);
    for (var i = base; i < end; i++) {
      wq[i] = (clamp(round(w[i] / s) + z, 0.0, levels) - z) * s;
    }
  }
}

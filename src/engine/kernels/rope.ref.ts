/**
 * CPU reference for RoPE (rotate_half layout), float64 except the angle: θ = fround(pos · invFreq[i]) is
 * the f32 product Hugging Face builds `freqs` with; cos/sin of it in float64.
 */
export function ropeForwardRef(
  x: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>, N: number, H: number, D: number, scale = 1,
): Float64Array {
  const half = D / 2;
  const out = new Float64Array(N * H * D);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const base = (n * H + h) * D;
      for (let d = 0; d < D; d++) {
        const theta = Math.fround(positions[n] * invFreq[d % half]);
        // x · cos + rotate_half(x) · sin, rotate_half(x) = cat(−x[half:], x[:half])
        const rot = d < half ? -x[base + d + half] : x[base + d - half];
        out[base + d] = scale * (x[base + d] * Math.cos(theta) + rot * Math.sin(theta));
      }
    }
  }
  return out;
}

/** dx = Rᵀ dy: since y = M x for a fixed matrix M per (token, head), dx_j = Σ_d dy_d · M[d, j]. */
export function ropeBackwardRef(
  dy: ArrayLike<number>, positions: ArrayLike<number>, invFreq: ArrayLike<number>, N: number, H: number, D: number, scale = 1,
): Float64Array {
  const half = D / 2;
  const dx = new Float64Array(N * H * D);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      const base = (n * H + h) * D;
      for (let d = 0; d < D; d++) {
        const theta = Math.fround(positions[n] * invFreq[d % half]);
        const c = scale * Math.cos(theta);
        const s = scale * Math.sin(theta);
        // y[d] = c·x[d] + s·rot: d < half reads −x[d + half], d ≥ half reads x[d − half]
        dx[base + d] += c * dy[base + d];
        if (d < half) dx[base + d + half] -= s * dy[base + d];
        else dx[base + d - half] += s * dy[base + d];
      }
    }
  }
  return dx;
}

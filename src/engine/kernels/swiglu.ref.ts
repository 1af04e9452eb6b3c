/** CPU reference for SwiGLU in float64: h = silu(g) · u, silu(g) = g / (1 + e^−g) (PyTorch's formula). */
export function swigluForwardRef(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: gate.length }, (_, i) => (gate[i] / (1 + Math.exp(-gate[i]))) * up[i]);
}

/** dgate = dy · u · σ(g)(1 + g(1 − σ(g))), dup = dy · silu(g). */
export function swigluBackwardRef(dy: ArrayLike<number>, gate: ArrayLike<number>, up: ArrayLike<number>): { dgate: Float64Array; dup: Float64Array } {
  const n = gate.length;
  const dgate = new Float64Array(n);
  const dup = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const s = 1 / (1 + Math.exp(-gate[i]));
    dgate[i] = dy[i] * up[i] * s * (1 + gate[i] * (1 - s));
    dup[i] = dy[i] * gate[i] * s;
  }
  return { dgate, dup };
}

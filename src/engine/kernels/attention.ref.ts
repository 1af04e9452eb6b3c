/**
 * CPU reference for causal GQA attention, plain loops in float64, materialising P [B, H, T, T] (the
 * kernels never do). Layouts: q, out [B, T, H, D]; k, v [B, T, KV, D]; head h reads kv head
 * h / (H / KV). Query i sees key j iff j ≤ i and (mask[b, j] = 1 or j = i), as model.py's causal_mask.
 */
export interface AttentionDims { B: number; T: number; H: number; KV: number; D: number }

export interface AttentionRefOptions {
  /** Key-padding mask [B, T]: 1 = token, 0 = padding. */
  mask?: ArrayLike<number>;
  /** Default 1 / sqrt(D). */
  scale?: number;
}

function sees(o: AttentionRefOptions, T: number, b: number, i: number, j: number): boolean {
  return j <= i && (!o.mask || j === i || o.mask[b * T + j] !== 0);
}

/** P [B, H, T, T] = softmax_j(scale · q_i·k_j) over the keys row i sees, 0 elsewhere. */
export function attentionProbsRef(q: ArrayLike<number>, k: ArrayLike<number>, d: AttentionDims, o: AttentionRefOptions = {}): Float64Array {
  const { B, T, H, KV, D } = d;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const P = new Float64Array(B * H * T * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      for (let i = 0; i < T; i++) {
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          if (!sees(o, T, b, i, j)) continue;
          let dot = 0;
          for (let x = 0; x < D; x++) dot += q[((b * T + i) * H + h) * D + x] * k[((b * T + j) * KV + g) * D + x];
          s[j] = dot * scale;
          max = Math.max(max, s[j]);
        }
        let sum = 0;
        for (let j = 0; j < T; j++) if (sees(o, T, b, i, j)) sum += Math.exp(s[j] - max);
        const row = ((b * H + h) * T + i) * T;
        for (let j = 0; j < T; j++) P[row + j] = sees(o, T, b, i, j) ? Math.exp(s[j] - max) / sum : 0;
      }
    }
  }
  return P;
}

/** out = P v, lse [B, H, T] = log Σ_j exp(scale · q_i·k_j) over the keys row i sees. */
export function attentionForwardRef(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, d: AttentionDims, o: AttentionRefOptions = {},
): { out: Float64Array; lse: Float64Array } {
  const { B, T, H, KV, D } = d;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const P = attentionProbsRef(q, k, d, o);
  const out = new Float64Array(B * T * H * D);
  const lse = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      for (let i = 0; i < T; i++) {
        const row = ((b * H + h) * T + i) * T;
        // lse from the scores directly (not from P), so the test of the kernel's lse is independent.
        let max = -Infinity;
        const s: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (!sees(o, T, b, i, j)) continue;
          let dot = 0;
          for (let x = 0; x < D; x++) dot += q[((b * T + i) * H + h) * D + x] * k[((b * T + j) * KV + g) * D + x];
          s.push(dot * scale);
          max = Math.max(max, dot * scale);
        }
        lse[(b * H + h) * T + i] = max + Math.log(s.reduce((acc, x) => acc + Math.exp(x - max), 0));
        for (let x = 0; x < D; x++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += P[row + j] * v[((b * T + j) * KV + g) * D + x];
          out[((b * T + i) * H + h) * D + x] = acc;
        }
      }
    }
  }
  return { out, lse };
}

/**
 * Gradients of out = P v through the full P: dv_j = Σ_i P_ij dO_i; dP_ij = dO_i·v_j;
 * dS_ij = P_ij (dP_ij − Σ_j' P_ij' dP_ij'); dq_i = scale Σ_j dS_ij k_j; dk_j = scale Σ_i dS_ij q_i;
 * dk and dv summed over the query heads that share a kv head.
 */
export function attentionBackwardRef(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, dout: ArrayLike<number>, d: AttentionDims,
  o: AttentionRefOptions = {},
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, T, H, KV, D } = d;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const P = attentionProbsRef(q, k, d, o);
  const dq = new Float64Array(B * T * H * D);
  const dk = new Float64Array(B * T * KV * D);
  const dv = new Float64Array(B * T * KV * D);
  const dP = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const g = Math.floor(h / (H / KV));
      const qi = (i: number) => ((b * T + i) * H + h) * D;
      const kj = (j: number) => ((b * T + j) * KV + g) * D;
      for (let i = 0; i < T; i++) {
        const row = ((b * H + h) * T + i) * T;
        let rowDot = 0;
        for (let j = 0; j < T; j++) {
          let x = 0;
          for (let c = 0; c < D; c++) x += dout[qi(i) + c] * v[kj(j) + c];
          dP[j] = x;
          rowDot += P[row + j] * x;
        }
        for (let j = 0; j < T; j++) {
          const p = P[row + j];
          if (p === 0) continue;
          const dS = p * (dP[j] - rowDot);
          for (let c = 0; c < D; c++) {
            dv[kj(j) + c] += p * dout[qi(i) + c];
            dq[qi(i) + c] += scale * dS * k[kj(j) + c];
            dk[kj(j) + c] += scale * dS * q[qi(i) + c];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

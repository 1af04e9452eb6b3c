/**
 * Float64 CPU reference of the hidden-state loss (hidden_loss.wgsl): y = W h_s + b, then per counted
 * token mse = mean_d (y − h_t)² or cosine = 1 − y·h_t / (max(‖y‖, ε)·max(‖h_t‖, ε)) (the torch
 * worker's form), averaged over `count` and scaled by `lossWeight`. mask[n] < 0 leaves token n out.
 */
import type { HiddenLossKind } from './hidden_loss.ts';

export interface HiddenLossRef {
  loss: number;
  dhS: Float64Array; // [N, Ds]
  dW: Float64Array; // [Dt, Ds]
  db: Float64Array; // [Dt]
}

const EPS = 1e-8;

export function hiddenLossRef(
  hS: ArrayLike<number>, hT: ArrayLike<number>, W: ArrayLike<number>, b: ArrayLike<number> | null,
  mask: ArrayLike<number>, N: number, Ds: number, Dt: number, kind: HiddenLossKind, count: number, lossWeight = 1,
): HiddenLossRef {
  const scale = count === 0 ? 0 : lossWeight / count;
  const dhS = new Float64Array(N * Ds);
  const dW = new Float64Array(Dt * Ds);
  const db = new Float64Array(Dt);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    if (mask[n] < 0) continue;
    const y = new Float64Array(Dt);
    for (let o = 0; o < Dt; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < Ds; i++) s += W[o * Ds + i] * hS[n * Ds + i];
      y[o] = s;
    }
    const h = (o: number) => hT[n * Dt + o];
    const dy = new Float64Array(Dt);
    if (kind === 'mse') {
      for (let o = 0; o < Dt; o++) {
        loss += (scale * (y[o] - h(o)) ** 2) / Dt;
        dy[o] = (scale * 2 * (y[o] - h(o))) / Dt;
      }
    } else {
      let dot = 0;
      let yy = 0;
      let hh = 0;
      for (let o = 0; o < Dt; o++) {
        dot += y[o] * h(o);
        yy += y[o] * y[o];
        hh += h(o) * h(o);
      }
      const ny = Math.max(Math.sqrt(yy), EPS);
      const nh = Math.max(Math.sqrt(hh), EPS);
      const cos = dot / (ny * nh);
      loss += scale * (1 - cos);
      // d cos/dy = h/(ny nh) − cos·y/‖y‖² while ‖y‖ > ε (the clamp passes no gradient below)
      for (let o = 0; o < Dt; o++) dy[o] = -scale * (h(o) / (ny * nh) - (Math.sqrt(yy) > EPS ? (cos * y[o]) / yy : 0));
    }
    for (let o = 0; o < Dt; o++) {
      db[o] += dy[o];
      for (let i = 0; i < Ds; i++) {
        dhS[n * Ds + i] += W[o * Ds + i] * dy[o];
        dW[o * Ds + i] += dy[o] * hS[n * Ds + i];
      }
    }
  }
  return { loss, dhS, dW, db };
}

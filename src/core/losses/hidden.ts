/**
 * CPU reference of the hidden-state loss through a learned projection y = W h_s + b (W: [Dt, Ds],
 * PyTorch Linear layout): MSE(y, h_t) averaged over tokens and dims, or 1 − cos(y, h_t) averaged
 * over tokens; tokens with mask = 0 are left out.
 */
import { checkFinite, checkLength, checkMask } from './inputs.ts';

export interface HiddenLossInput {
  tokens: number; // N
  studentDim: number; // Ds
  teacherDim: number; // Dt
  student: ArrayLike<number>; // [N, Ds] h_s
  teacher: ArrayLike<number>; // [N, Dt] h_t
  weight: ArrayLike<number>; // [Dt, Ds] W
  bias?: ArrayLike<number>; // [Dt] b (absent = 0)
  mask?: ArrayLike<number>; // [N]
}

export interface HiddenLossResult {
  loss: number;
  count: number;
  gradStudent: Float64Array; // [N, Ds] dL/dh_s
  gradWeight: Float64Array; // [Dt, Ds] dL/dW
  gradBias: Float64Array; // [Dt] dL/db
}

/** PyTorch's F.cosine_similarity floor on ‖y‖·‖h_t‖. */
export const COSINE_EPS = 1e-8;

export function hiddenLoss(input: HiddenLossInput, kind: 'mse' | 'cosine'): HiddenLossResult {
  const { tokens: N, studentDim: Ds, teacherDim: Dt, student, teacher, weight, bias, mask } = input;
  checkLength('student hidden', student, N * Ds, '[tokens, studentDim]');
  checkLength('teacher hidden', teacher, N * Dt, '[tokens, teacherDim]');
  checkLength('projection weight', weight, Dt * Ds, '[teacherDim, studentDim]');
  if (bias) checkLength('projection bias', bias, Dt, '[teacherDim]');
  checkFinite('student hidden', student, Ds);
  checkFinite('teacher hidden', teacher, Dt);
  const count = checkMask(mask, N);
  const gradStudent = new Float64Array(N * Ds);
  const gradWeight = new Float64Array(Dt * Ds);
  const gradBias = new Float64Array(Dt);
  const y = new Float64Array(Dt);
  const dy = new Float64Array(Dt);
  let loss = 0;
  for (let t = 0; t < N; t++) {
    if (count === 0 || (mask && mask[t] === 0)) continue;
    // y = W h_s + b   // [Dt]
    for (let o = 0; o < Dt; o++) {
      let s = bias ? bias[o] : 0;
      for (let i = 0; i < Ds; i++) s += weight[o * Ds + i] * student[t * Ds + i];
      y[o] = s;
    }
    if (kind === 'mse') {
      // L += Σ (y − h_t)² / (count·Dt);  ∂L/∂y = 2 (y − h_t) / (count·Dt)
      for (let o = 0; o < Dt; o++) {
        const d = y[o] - teacher[t * Dt + o];
        loss += (d * d) / (count * Dt);
        dy[o] = (2 * d) / (count * Dt);
      }
    } else {
      // cos = y·h / max(‖y‖‖h‖, ε);  L += (1 − cos) / count
      // ∂cos/∂y = h / (‖y‖‖h‖) − cos · y / ‖y‖²   (denominator above ε; below it, h / ε)
      let dot = 0;
      let yy = 0;
      let hh = 0;
      for (let o = 0; o < Dt; o++) {
        const h = teacher[t * Dt + o];
        dot += y[o] * h;
        yy += y[o] * y[o];
        hh += h * h;
      }
      const norms = Math.sqrt(yy * hh);
      const clamped = norms < COSINE_EPS;
      const cos = dot / (clamped ? COSINE_EPS : norms);
      loss += (1 - cos) / count;
      for (let o = 0; o < Dt; o++) {
        const h = teacher[t * Dt + o];
        const dcos = clamped ? h / COSINE_EPS : h / norms - (cos * y[o]) / yy;
        dy[o] = -dcos / count;
      }
    }
    // y = W h_s + b  →  ∂L/∂h_s = Wᵀ dy,  ∂L/∂W = dy h_sᵀ,  ∂L/∂b = dy
    for (let o = 0; o < Dt; o++) {
      gradBias[o] += dy[o];
      for (let i = 0; i < Ds; i++) {
        gradStudent[t * Ds + i] += weight[o * Ds + i] * dy[o];
        gradWeight[o * Ds + i] += dy[o] * student[t * Ds + i];
      }
    }
  }
  return { loss, count, gradStudent, gradWeight, gradBias };
}

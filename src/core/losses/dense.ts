/**
 * CPU reference of the distillation loss on full logits (Float64 throughout):
 *   token loss = α · T² · D(p_t^T ‖ p_s^T) + (1 − α) · CE(y, p_s^1), mean over tokens with mask = 1.
 */
import { divergence, throughSoftmax } from './divergence.ts';
import { checkFinite, checkLabel, checkLength, checkMask, checkShape } from './inputs.ts';
import { checkOptions, type LossOptions, type LossResult } from './options.ts';
import { lossResult } from './result.ts';
import { logSoftmax } from './softmax.ts';

export interface DenseLossInput {
  tokens: number; // N
  vocab: number; // V, logits already sliced to the tokenizer's size
  student: ArrayLike<number>; // [N, V] student logits z_s
  teacher?: ArrayLike<number>; // [N, V] teacher logits z_t (not needed when divergence is 'none')
  labels: ArrayLike<number>; // [N] next-token ids y
  mask?: ArrayLike<number>; // [N] 1 = counts (completion), 0 = prompt/padding; absent = all count
}

export function denseDistillLoss(input: DenseLossInput, options: LossOptions): LossResult {
  const { tokens: N, vocab: V, student, teacher, labels, mask } = input;
  const params = checkOptions(options);
  checkShape(N, V);
  checkLength('student logits', student, N * V, '[tokens, vocab]');
  checkFinite('student logits', student, V);
  checkLength('labels', labels, N, '[tokens]');
  const soft = options.divergence !== 'none';
  if (soft) {
    checkLength('teacher logits', teacher, N * V, '[tokens, vocab]');
    checkFinite('teacher logits', teacher!, V);
  }
  const count = checkMask(mask, N);
  const T = options.temperature;
  const alpha = soft ? options.alpha : 0; // 'none' means plain CE
  const grad = new Float64Array(N * V);
  const perSoft = new Float64Array(N);
  const perHard = new Float64Array(N);
  let softSum = 0;
  let hardSum = 0;
  for (let t = 0; t < N; t++) {
    if (mask && mask[t] === 0) continue;
    const row = t * V;
    const y = checkLabel(labels, t, V);
    const scale = 1 / count;
    // hard: CE = −log softmax(z_s)[y];  ∂CE/∂z = softmax(z_s) − onehot(y)
    const logQ1 = logSoftmax(student, row, V);
    perHard[t] = -logQ1[y];
    if (alpha < 1) {
      for (let v = 0; v < V; v++) grad[row + v] += (1 - alpha) * scale * Math.exp(logQ1[v]);
      grad[row + y] -= (1 - alpha) * scale;
    }
    // soft: T² · D(p_t^T ‖ p_s^T);  ∂/∂z_s = T² · (r − q Σr) / T
    if (soft) {
      const logP = logSoftmax(teacher!, row, V, T);
      const logQ = logSoftmax(student, row, V, T);
      const d = divergence(options.divergence as Exclude<typeof options.divergence, 'none'>, logP, logQ, params);
      perSoft[t] = T * T * d.value;
      if (alpha > 0) throughSoftmax(d.r, logQ, T, alpha * T * T * scale, grad, row);
    }
    softSum += perSoft[t];
    hardSum += perHard[t];
  }
  return lossResult(softSum, hardSum, count, alpha, soft, grad, perSoft, perHard);
}

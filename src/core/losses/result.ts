import type { LossResult } from './options.ts';

/** Means over the counted tokens and the α mix; shared by the dense and sparse references. */
export function lossResult(
  softSum: number,
  hardSum: number,
  count: number,
  alpha: number,
  hasSoft: boolean,
  grad: Float64Array,
  perSoft: Float64Array,
  perHard: Float64Array,
): LossResult {
  const soft = count ? softSum / count : 0;
  const hard = count ? hardSum / count : 0;
  const loss = hasSoft ? alpha * soft + (1 - alpha) * hard : hard;
  return { loss, soft, hard, count, grad, perToken: { soft: perSoft, hard: perHard } };
}

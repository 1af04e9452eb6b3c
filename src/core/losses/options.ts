import type { Divergence, LossConfig } from '../schema/loss.ts';

/** The knobs of the token loss α·T²·D + (1 − α)·CE at one step (temperature already scheduled). */
export interface LossOptions {
  divergence: Divergence; // 'none' = plain cross-entropy, α ignored
  temperature: number; // T > 0
  alpha: number; // soft weight in [0, 1]
  beta?: number; // gjsd mixing, default 0.5
  lambda?: number; // skew, default 0.1
}

/** What every loss reference returns. Parts are means over the tokens that count, before α. */
export interface LossResult {
  loss: number; // α·soft + (1 − α)·hard   (hard alone when divergence is 'none')
  soft: number; // mean T²·D
  hard: number; // mean CE at T = 1
  count: number; // tokens that count (mask = 1); 0 gives loss 0 and a zero gradient
  grad: Float64Array; // [tokens, vocab] dL/dz_s (0 on masked-out rows)
  perToken: { soft: Float64Array; hard: Float64Array }; // [tokens] T²·D and CE (0 on masked-out rows)
}

export function lossOptions(config: LossConfig, temperature: number): LossOptions {
  return { divergence: config.divergence, temperature, alpha: config.alpha, beta: config.beta, lambda: config.lambda };
}

export function checkOptions(o: LossOptions): { beta: number; lambda: number } {
  if (!(o.temperature > 0) || !Number.isFinite(o.temperature)) throw new Error(`temperature: ${o.temperature} must be > 0`);
  if (!(o.alpha >= 0 && o.alpha <= 1)) throw new Error(`alpha: ${o.alpha} must be in [0, 1]`);
  const beta = o.beta ?? 0.5;
  const lambda = o.lambda ?? 0.1;
  if (!(beta >= 0 && beta <= 1)) throw new Error(`beta: ${beta} must be in [0, 1]`);
  if (!(lambda >= 0 && lambda <= 1)) throw new Error(`lambda: ${lambda} must be in [0, 1]`);
  return { beta, lambda };
}

/**
 * The comparison's arithmetic against hand-computed values: KL between two softmaxes, perplexity on
 * the reply's tokens only, exact match through the answer checker, tokens/s from the reported times.
 */
import { describe, expect, it } from 'vitest';
import { compareModels, nll, perTokenKl, type ComparableLM, type Problem } from '../../src/onnx/compare.ts';

/** A model whose logits are fixed per position and whose greedy output is a fixed reply. */
function fakeLM(label: string, row: (t: number) => number[], reply: number[], times = { prefillSeconds: 0.5, decodeSeconds: 2 }): ComparableLM {
  return {
    label,
    bytes: 100,
    async logits(ids) {
      return { data: Float32Array.from(ids.flatMap((_, t) => row(t))), vocab: 2 };
    },
    async greedy() {
      return { ids: reply, ...times };
    },
  };
}

describe('full vs quantized comparison', () => {
  it('KL(p ‖ q) per row equals Σ p log(p/q) of the softmaxes', () => {
    // row 0: p = q = (½, ½); row 1: p = softmax(0, ln 3) = (¼, ¾), q = (½, ½)
    const kl = perTokenKl([0, 0, 0, Math.log(3)], [5, 5, 1, 1], 2);
    const want = 0.25 * Math.log(0.25 / 0.5) + 0.75 * Math.log(0.75 / 0.5);
    console.log(`KL rows ${kl.map((x) => x.toExponential(3))}, hand ${want.toExponential(3)}`);
    expect(kl[0]).toBeLessThan(1e-15);
    expect(kl[1]).toBeCloseTo(want, 7); // logits travel as float32
    expect(() => perTokenKl([0, 0, 0], [0, 0], 2)).toThrow('do not share rows of 2');
  });

  it('NLL skips positions without a target', () => {
    const r = nll([0, Math.log(3), 0, 0], 2, [1, -1]);
    expect(r.count).toBe(1);
    expect(r.sum).toBeCloseTo(-Math.log(0.75), 7);
  });

  it('scores both models on the reply tokens, checks answers, and times tokens', async () => {
    // prompt [0, 1], reply [1, 0]: targets are full[t + 1] for t = 1, 2 → ids 1 and 0
    const problems: Problem[] = [{ prompt: [0, 1], full: [0, 1, 1, 0], answer: '7' }];
    const decode = (ids: readonly number[]) => (ids[0] === 1 ? '\\boxed{7}' : '\\boxed{8}');
    const full = fakeLM('full', () => [0, Math.log(3)], [1, 0, 0, 0, 0]); // p(1) = ¾ everywhere
    const quant = fakeLM('q', () => [0, 0], [0, 0]); // uniform; logits travel as float32, hence 7 digits below
    const c = await compareModels(full, quant, problems, { maxNewTokens: 8, stop: [], decode });
    expect(c.full.accuracy).toBe(1);
    expect(c.quantized.accuracy).toBe(0);
    expect(c.full.perplexity).toBeCloseTo(Math.exp((-Math.log(0.75) - Math.log(0.25)) / 2), 7);
    expect(c.quantized.perplexity).toBeCloseTo(2, 7);
    expect(c.full.prefillTokensPerSecond).toBeCloseTo(2 / 0.5, 7);
    expect(c.full.decodeTokensPerSecond).toBeCloseTo(4 / 2, 7); // the first token comes from the prefill
    const kl = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5); // KL((¼, ¾) ‖ (½, ½)) at the 2 reply positions
    expect(c.klMean).toBeCloseTo(kl, 7);
    expect(c.klMax).toBeCloseTo(kl, 7);
  });
});

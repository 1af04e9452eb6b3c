import { describe, expect, it } from 'vitest';
import { estimateTrainingMemory, preflight, MemoryPreflightError } from '../../src/core/memory.ts';
import { countParams, type ModelSpec } from '../../src/core/model-spec.ts';

const qwen05: ModelSpec = {
  arch: 'qwen2', vocabSize: 151936, hidden: 896, intermediate: 4864, layers: 24, heads: 14, kvHeads: 2, headDim: 64,
  rmsEps: 1e-6, ropeTheta: 1e6, ropeScaling: { type: 'none' }, maxPositions: 32768, tieEmbeddings: true, qkvBias: true,
  oBias: false, qkNorm: false, mlpBias: false, torchDtype: 'bfloat16', bosTokenId: null, eosTokenIds: [151643],
};
const laptop = { maxBufferSize: 2 ** 31, maxStorageBufferBindingSize: 2 ** 31 - 4, budgetBytes: 4 * 2 ** 30 };

describe('memory pre-flight', () => {
  it('counts weights, gradients and AdamW moments from the spec (independent of the estimate: countParams)', () => {
    const e = estimateTrainingMemory(qwen05, null, { batch: 1, seqLen: 256, loraRank: 0, chunkTokens: 64 });
    const p = countParams(qwen05);
    expect(e.studentWeights).toBe(4 * p);
    expect(e.gradients).toBe(4 * p);
    expect(e.optimizer).toBe(8 * p);
    expect(e.lossChunk).toBe(4 * 64 * 151936);
  });

  it('refuses full fine-tuning of a 0.5B student on a 4 GiB budget and suggests LoRA', () => {
    expect(() => preflight(qwen05, qwen05, { batch: 8, seqLen: 512, loraRank: 0, chunkTokens: 64 }, laptop)).toThrow(MemoryPreflightError);
    try {
      preflight(qwen05, qwen05, { batch: 8, seqLen: 512, loraRank: 0, chunkTokens: 64 }, laptop);
    } catch (e) {
      expect((e as Error).message).toMatch(/needs about \d+ MiB .* 4096 MiB is available/);
      expect((e as Error).message).toMatch(/LoRA/);
      expect((e as Error).message).toMatch(/packed f16\/bf16 teacher/);
    }
  });

  it('suggests a batch size that does fit when only activations are too big', () => {
    const shape = { batch: 64, seqLen: 128, loraRank: 8, chunkTokens: 64, teacherBytesPerWeight: 2 };
    let msg = '';
    try {
      preflight(qwen05, qwen05, shape, laptop);
    } catch (e) {
      msg = (e as Error).message;
    }
    const m = msg.match(/batch size (\d+)/);
    expect(m).not.toBeNull();
    const b = Number(m![1]);
    expect(() => preflight(qwen05, qwen05, { ...shape, batch: b }, laptop)).not.toThrow();
    expect(() => preflight(qwen05, qwen05, { ...shape, batch: b + 1 }, laptop)).toThrow(MemoryPreflightError);
  });

  it('names the buffer that exceeds the binding limit', () => {
    expect(() => preflight(qwen05, null, { batch: 1, seqLen: 64, loraRank: 8, chunkTokens: 64 }, { ...laptop, maxStorageBufferBindingSize: 128 * 2 ** 20 }))
      .toThrow(/model.embed_tokens.weight needs one 519 MiB buffer but this adapter binds at most 128 MiB/);
  });
});

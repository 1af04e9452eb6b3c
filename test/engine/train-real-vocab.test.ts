import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { tinySpec, tinyCheckpointFiles } from '../helpers/tiny-checkpoint.ts';
import { MapFileSource } from '../../src/core/files.ts';
import { loadTokenizer, checkVocabCompatibility, checkTeacherStudentTokenizers } from '../../src/core/tokenizer.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';

/**
 * Qwen's real tokenizer (151,669 ids) on tiny random models whose config pads the vocabulary the way
 * Qwen does: 151,936 rows for the student, 152,064 for the teacher (as larger Qwen models). Logit KD
 * must just work over the tokenizer's ids, ignoring the padded rows.
 */
describe('real Qwen vocabulary, padded differently in teacher and student', () => {
  it('loads, runs forward and trains with the loss going down', { timeout: 300_000 }, async () => {
    const rt = await gpu();
    const small = { hidden: 16, intermediate: 32, layers: 1, heads: 2, kvHeads: 1, headDim: 8 };
    const sFiles = new MapFileSource(await tinyCheckpointFiles(tinySpec('qwen2', { ...small, vocabSize: 151936, tieEmbeddings: true }), { seed: 1, qwenTokenizer: true }));
    const tFiles = new MapFileSource(await tinyCheckpointFiles(tinySpec('qwen2', { ...small, vocabSize: 152064, tieEmbeddings: true }), { seed: 2, qwenTokenizer: true }));
    const tokS = await loadTokenizer(sFiles, '');
    const tokT = await loadTokenizer(tFiles, '');
    const student = new Decoder(rt, await loadWeights(rt, sFiles, ''));
    const teacher = new Decoder(rt, await loadWeights(rt, tFiles, ''));
    const { logitVocab } = checkVocabCompatibility(tokS, student.spec, 'student/config.json');
    checkVocabCompatibility(tokT, teacher.spec, 'teacher/config.json');
    checkTeacherStudentTokenizers(tokT, tokS); // same tokenizer: no throw despite 151,936 vs 152,064 rows
    expect(logitVocab).toBeGreaterThanOrEqual(151643);

    const text = 'Distillation moves knowledge from a teacher to a student.';
    const ids = Int32Array.from(tokS.encode(text));
    const T = ids.length;
    const labels = Int32Array.from(ids, (_, i) => (i + 1 < T ? ids[i + 1] : -1));
    const step = new DistillStep(rt, student, teacher, [...student.weights.values()], logitVocab, {
      beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1,
    }, 16);
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      step.micro({ ids, labels, B: 1, T }, { divergence: 'forward-kl', alpha: 0.5, temperature: 2, beta: 0.5, lambda: 0.1 }, T - 1);
      losses.push((await step.apply(1e-2)).loss);
      console.log(`step ${i}: ${(performance.now() - t0).toFixed(0)} ms`);
    }
    console.log(`vocab ${logitVocab} (student rows 151936, teacher rows 152064), ${T} tokens: losses ${losses.map((l) => l.toFixed(4)).join(' → ')}`);
    for (const l of losses) expect(Number.isFinite(l)).toBe(true);
    expect(losses[2]).toBeLessThan(losses[0]);
    step.dispose();
    student.dispose();
    teacher.dispose();
  });
});

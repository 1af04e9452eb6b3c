/**
 * Cross-tokenizer teachers at the runner: logit KD between two tokenizers is refused before any
 * worker starts (naming the remedies), and a ULD stage gets the teacher's tokenization of every
 * record beside the student's row (what the worker's uld.py pairs answer tokens with).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../src/core/schema/index.ts';
import { NodeFileSource } from '../../src/node/files.ts';
import { prepareJobData } from '../../src/runner/prepare-data.ts';
import { stageDataFile, type TokenRow } from '../../src/runner/protocol.ts';
import { tokenizerOf } from '../../src/runner/tokenizers.ts';
import { makeWorkspace } from './helpers.ts';
import { tempDir } from '../helpers/torch-worker.ts';

/** The workspace's teacher gets the demo's character-level tokenizer; the student keeps the tiny byte-level one. */
function mismatchedWorkspace(): string {
  const ws = makeWorkspace();
  for (const name of ['tokenizer.json', 'tokenizer_config.json'])
    copyFileSync(join('public/models/demo-teacher', name), join(ws, 'models', 'teacher', name));
  return ws;
}

function spec(loss: Record<string, unknown>) {
  return parseJobSpec({
    kind: 'distill', teacher: { path: 'models/teacher' }, student: { path: 'models/student' },
    stages: [{ name: 'x', data: { path: 'data/train.jsonl', maxSeqLen: 256 }, loss, stop: { steps: 1 } }],
  }, 'spec.json');
}

describe('cross-tokenizer teachers', () => {
  it('logit KD is refused naming the tokenizers and the alternatives', async () => {
    const ws = mismatchedWorkspace();
    await expect(prepareJobData(spec({ divergence: 'forward-kl', alpha: 0.5 }), tempDir(), ws)).rejects.toThrow(/tokenizers differ.*sequence-level KD.*ULD/s);
  });

  it('a ULD stage carries the teacher tokenization of each record', async () => {
    const ws = mismatchedWorkspace();
    const job = tempDir();
    const { notes } = await prepareJobData(spec({ divergence: 'none', alpha: 0, uld: { weight: 1 } }), job, ws);
    expect(notes.join('\n')).toMatch(/4 rows also tokenized with the teacher's tokenizer/);
    const rows = readFileSync(join(job, stageDataFile(0)), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TokenRow);
    const src = new NodeFileSource(ws);
    const teacherTok = await tokenizerOf(src, 'models/teacher');
    const studentTok = await tokenizerOf(src, 'models/student');
    for (const r of rows) {
      expect(r.teacher_ids).toBeDefined();
      expect(r.teacher_ids).not.toEqual(r.ids);
      // Both sides trained on the same completion text, each in its own ids.
      const answer = (ids: number[], labels: number[], decode: (x: number[]) => string) => decode(ids.filter((_, t) => labels[t - 1] >= 0));
      const a = answer(r.ids, r.labels, (x) => studentTok.decode(x));
      const b = answer(r.teacher_ids!, r.teacher_labels!, (x) => teacherTok.decode(x));
      const text = (s: string) => s.split('<|')[0]; // each side ends with its own end-of-turn token
      expect(text(b)).toBe(text(a));
      expect(text(a)).toMatch(/The answer is \\boxed\{\d+\}\.$/);
    }
  });
});

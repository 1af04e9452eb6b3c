/**
 * The data recipes reach the worker: the runner's tokenized rows for an augmented demo file carry
 * `negative: true` exactly on the wrong traces (when data.negatives is set) and each record's
 * `difficulty` (curriculum 'by-difficulty'), matched to the source lines by the file itself.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arithSplits } from '../../src/core/demo/arith.ts';
import { augment } from '../../src/core/demo/augment.ts';
import { parseJobSpec } from '../../src/core/schema/index.ts';
import { prepareJobData } from '../../src/runner/prepare-data.ts';
import { stageDataFile, type TokenRow } from '../../src/runner/protocol.ts';
import { tempDir } from '../helpers/torch-worker.ts';

describe('data recipes through the runner', () => {
  it.each([true, false])('negative flags (data.negatives: %s) and difficulties land on the right rows', async (withNegatives) => {
    const records = augment(arithSplits([{ name: 'val', size: 12, seed: 0x0a1 }]).val, { paraphrase: 1, substitute: 0, negatives: 0.5, seed: 4 });
    const ws = tempDir();
    mkdirSync(join(ws, 'data'));
    writeFileSync(join(ws, 'data', 'aug.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const data = { path: 'data/aug.jsonl', maxSeqLen: 192, curriculum: 'by-difficulty', ...(withNegatives ? { negatives: {} } : {}) };
    const spec = parseJobSpec({
      kind: 'distill', teacher: { path: resolve('public/models/demo-teacher') }, student: { path: resolve('public/models/demo-student') },
      stages: [{ name: 'x', data, stop: { steps: 1 } }],
    });
    const job = tempDir();
    await prepareJobData(spec, job, ws);
    const rows = readFileSync(join(job, stageDataFile(0)), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as TokenRow);
    expect(rows.length).toBe(records.length);
    const negatives = records.filter((r) => r.negative).length;
    expect(negatives).toBeGreaterThan(2);
    for (const row of rows) {
      const source = records[row.line! - 1];
      expect(row.negative ?? false).toBe(withNegatives && source.negative === true);
      expect(row.difficulty).toBe(source.difficulty);
    }
  });
});

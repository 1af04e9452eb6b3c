/**
 * `retort demo-augment`: a demo-task dataset with the data recipes of src/core/demo/augment.ts
 * (paraphrases, number substitution, wrong-answer traces), for a distill stage's data.path.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { augment } from '../core/demo/augment.ts';
import type { ArithRecord } from '../core/demo/arith.ts';
import { num, parseCommand } from './args.ts';
import { DATA_DIR } from './demo.ts';

const HELP = `usage: retort demo-augment --out FILE [options]

Reads demo records (default ${DATA_DIR}/train.jsonl) and writes each one followed by its augmented copies.
  --in FILE           source JSONL of demo records
  --out FILE          where to write (required)
  --paraphrase N      paraphrased copies per record (default 1)
  --substitute N      copies with new numbers of the same kind, traces recomputed (default 1)
  --negatives P       probability of a wrong-answer trace (negative: true) per record (default 0)
  --limit N           use only the first N source records
  --seed N            (default 1)`;

export async function demoAugmentCommand(argv: string[]): Promise<number> {
  const o = parseCommand('demo-augment', argv, {
    in: { type: 'string' }, out: { type: 'string' }, paraphrase: { type: 'string' }, substitute: { type: 'string' },
    negatives: { type: 'string' }, limit: { type: 'string' }, seed: { type: 'string' },
  }, HELP);
  if (!o) return 0;
  if (!o.out) {
    console.error('demo-augment: --out is required');
    return 2;
  }
  const source = o.in ?? `${DATA_DIR}/train.jsonl`;
  const lines = (await readFile(source, 'utf8')).split('\n').filter((l) => l.trim());
  const records = lines.slice(0, num(o.limit, '--limit', lines.length)).map((l, i) => {
    try {
      return JSON.parse(l) as ArithRecord;
    } catch (e) {
      throw new Error(`${source}:${i + 1}: invalid JSON (${(e as Error).message})`);
    }
  });
  const out = augment(records, {
    paraphrase: num(o.paraphrase, '--paraphrase', 1), substitute: num(o.substitute, '--substitute', 1),
    negatives: num(o.negatives, '--negatives', 0), seed: num(o.seed, '--seed', 1),
  });
  await writeFile(o.out, out.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const negatives = out.filter((r) => r.negative).length;
  console.log(`${o.out}: ${out.length} records from ${records.length} (${negatives} negative)`);
  return 0;
}

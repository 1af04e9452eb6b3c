/**
 * The Data view's numbers: a JSONL file's first records tokenized exactly as training does
 * (core/dataset.ts: chat template, assistant-only loss mask, truncation), their lengths, and the
 * teacher top-k coverage (Σ p over the cached k ids, per trained token) when traces carry log-probs.
 */
import { parseJsonl, tokenizeRecord, type DataFormat, type TokenizedExample, type Truncation } from '../../core/dataset.ts';
import type { Tokenizer } from '../../core/tokenizer.ts';

export interface InspectOptions {
  file: string;
  format: DataFormat;
  maxSeqLen: number;
  truncation: Truncation;
  /** Records tokenized (the rest are only counted): keeps the page quick on a 12,000-line split. */
  limit: number;
}

export interface Inspection {
  lines: number;
  examples: TokenizedExample[];
  /** Untruncated length of each inspected example (tokens). */
  lengths: number[];
  /** Per example: mean teacher mass on its top-k ids over trained tokens (null without teacher_topk). */
  coverage: (number | null)[];
}

/** Tokenize the first `limit` records, yielding to the event loop between chunks so the page stays responsive. */
export async function inspectJsonl(text: string, tok: Tokenizer, o: InspectOptions): Promise<Inspection> {
  const records = parseJsonl(text, o.file, o.format);
  const examples: TokenizedExample[] = [];
  for (const [i, rec] of records.slice(0, o.limit).entries()) {
    if (i % 25 === 24) await new Promise((r) => setTimeout(r, 0));
    examples.push(tokenizeRecord(rec, tok, { file: o.file, maxSeqLen: o.maxSeqLen, truncation: o.truncation, useChatTemplate: true }));
  }
  return {
    lines: records.length,
    examples,
    lengths: examples.map((e) => e.ids.length + e.truncatedTokens),
    coverage: examples.map(meanCoverage),
  };
}

/** Teacher mass on the cached top-k at each position (null where the position has no target). */
export function positionCoverage(ex: TokenizedExample): (number | null)[] {
  const t = ex.teacher;
  return Array.from(ex.ids, (_, pos) => {
    if (!t || ex.labels[pos] < 0) return null;
    let mass = 0;
    for (let c = 0; c < t.k; c++) if (t.ids[pos * t.k + c] >= 0) mass += Math.exp(t.logprobs[pos * t.k + c]);
    return mass;
  });
}

function meanCoverage(ex: TokenizedExample): number | null {
  const values = positionCoverage(ex).filter((v): v is number => v !== null);
  return values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
}

/** Counts of lengths in `bins` equal-width bins from 0 to the longest: bin starts and counts. */
export function histogram(values: readonly number[], bins = 24): { starts: number[]; counts: number[] } {
  const max = Math.max(1, ...values);
  const width = Math.max(1, Math.ceil((max + 1) / bins));
  const counts = new Array<number>(Math.ceil((max + 1) / width)).fill(0);
  for (const v of values) counts[Math.floor(v / width)]++;
  return { starts: counts.map((_, i) => i * width), counts };
}

/**
 * Data recipes for the demo task (seeds 001, 002, 004), on records of `arith.ts`:
 *
 *   paraphrase   the same problem asked another way ("What is 47 times 36?", "Work out 47*36.");
 *                the trace and answer do not change — the student learns that the wording does not matter
 *   substitute   the same kind of problem (operator, operand lengths, sign) with new numbers, its trace
 *                and answer recomputed by `solve` — more problems of exactly the shapes the data has
 *   negative     a wrong-answer trace for the same question (`negative: true`): one column's digit off
 *                by one (or, where the trace has no simple columns, the final answer), the error carried
 *                to the boxed answer. The torch worker trains these by unlikelihood at the first token
 *                where they leave the correct trace (data.negatives)
 *
 * All draws come from one seeded generator, so a recipe gives the same file everywhere.
 */
import { assistantText, type ArithRecord, type Op, type Problem, solve } from './arith.ts';
import { rng } from '../random.ts';

/** A demo record, or a wrong-answer trace of one (its `answer` stays the correct value). */
export type AugmentedRecord = ArithRecord & { negative?: true };

export interface AugmentOptions {
  /** paraphrased copies per record */
  paraphrase: number;
  /** number-substituted copies per record */
  substitute: number;
  /** probability that a record also gets a wrong-answer trace */
  negatives: number;
  seed: number;
}

const OP_WORDS: Record<Op, string> = { '+': 'plus', '-': 'minus', '*': 'times' };

/** Templates beyond the dataset's own phrasings; `{e}` = `47*36`, `{a} {w} {b}` = `47 times 36`. */
export const PARAPHRASES: readonly string[] = [
  'What is {a} {w} {b}?',
  'How much is {e}?',
  'Work out {e}.',
  'Find {a} {w} {b}.',
  'Please calculate {e}.',
  '{e} = ?',
  'What do you get from {a} {w} {b}?',
];

const EXPRESSION = /(\d+)([+\-*])(\d+)/;

/** The problem a record asks, read back from its question. */
export function problemOf(record: ArithRecord): Problem {
  const question = record.messages[0].content;
  const m = EXPRESSION.exec(question);
  if (!m) throw new Error(`augment: no "a op b" expression in the question ${JSON.stringify(question)}`);
  return { a: Number(m[1]), b: Number(m[3]), op: m[2] as Op };
}

function expressionText(p: Problem): string {
  return `${p.a}${p.op}${p.b}`;
}

function withQuestion(record: ArithRecord, question: string, p: Problem): ArithRecord {
  return {
    messages: [
      { role: 'user', content: question },
      { role: 'assistant', content: assistantText(p) },
    ],
    answer: String(solve(p).answer),
    difficulty: record.difficulty,
  };
}

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];

export function paraphrase(record: ArithRecord, rand: Rand): ArithRecord {
  const p = problemOf(record);
  const template = pick(rand, PARAPHRASES);
  const question = template
    .replace('{e}', expressionText(p))
    .replace('{a}', String(p.a))
    .replace('{w}', OP_WORDS[p.op])
    .replace('{b}', String(p.b));
  return withQuestion(record, question, p);
}

/** A uniform number with as many digits as n (0–9 for one digit). */
function sameLength(rand: Rand, n: number): number {
  const digits = String(n).length;
  const lo = digits === 1 ? 0 : 10 ** (digits - 1);
  return lo + Math.floor(rand() * (10 ** digits - lo));
}

export function substitute(record: ArithRecord, rand: Rand): ArithRecord {
  const old = problemOf(record);
  let p: Problem = old;
  for (let tries = 0; tries < 100 && expressionText(p) === expressionText(old); tries++) {
    let a = sameLength(rand, old.a);
    let b = sameLength(rand, old.b);
    // keep the sign of a difference: a borrow-free "a ≥ b" problem must not turn into a negative one
    if (old.op === '-' && (old.a >= old.b) !== (a >= b)) [a, b] = [b, a];
    if (old.op === '-' && old.a < old.b && a === b) continue;
    p = { a, b, op: old.op };
  }
  const question = record.messages[0].content.replace(expressionText(old), expressionText(p));
  return withQuestion(record, question, p);
}

/**
 * A wrong-answer trace of the record's problem. Additions and non-negative differences get one
 * column's result off by one (the first lines of their traces are the columns, least significant
 * first) and the answer off by that column's place value; other traces get their final answer off.
 */
export function negative(record: ArithRecord, rand: Rand): AugmentedRecord {
  const p = problemOf(record);
  const { lines, answer } = solve(p);
  const wrong = [...lines];
  const columns = p.op === '+' || (p.op === '-' && p.a >= p.b) ? Math.max(String(p.a).length, String(p.b).length) : 0;
  let place = 0;
  let delta = rand() < 0.5 ? -1 : 1;
  if (columns > 0) {
    place = Math.floor(rand() * columns);
    const [lhs, rhs] = wrong[place].split('=');
    const value = Number(rhs);
    if (value + delta < 0 || (p.op === '-' && value + delta > 9)) delta = -delta;
    wrong[place] = `${lhs}=${value + delta}`;
  } else {
    place = Math.floor(rand() * String(Math.abs(answer)).length);
  }
  const value = answer + delta * 10 ** place;
  wrong[wrong.length - 1] = `=${value}`;
  return {
    messages: [record.messages[0], { role: 'assistant', content: `<think>\n${wrong.join('\n')}\n</think>\n\\boxed{${value}}` }],
    answer: record.answer,
    difficulty: record.difficulty,
    negative: true,
  };
}

/** Every record, followed by its paraphrases, substitutions and (sometimes) a negative. */
export function augment(records: readonly ArithRecord[], opts: AugmentOptions): AugmentedRecord[] {
  const rand = rng(opts.seed);
  const out: AugmentedRecord[] = [];
  for (const r of records) {
    out.push(r);
    for (let i = 0; i < opts.paraphrase; i++) out.push(paraphrase(r, rand));
    for (let i = 0; i < opts.substitute; i++) out.push(substitute(r, rand));
    if (rand() < opts.negatives) out.push(negative(r, rand));
  }
  return out;
}

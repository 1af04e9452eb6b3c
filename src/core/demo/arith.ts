/**
 * The embedded demo's reasoning task: integer arithmetic with R1-style traces, at toy scale.
 *
 * A record is one chat turn pair:
 *   {"messages": [{"role": "user", "content": "What is 47*36?"},
 *                 {"role": "assistant", "content": "<think>\n47*6\n7*6=42\n4*6+4=28\n=282\n…\n=1692\n</think>\n\\boxed{1692}"}],
 *    "answer": "1692", "difficulty": 4}
 *
 * Traces are short, regular steps a few-million-parameter model can learn exactly — one line per
 * column, right to left, every carry or borrow written where it is used:
 *   addition     `7+5+1=13`   digits of the column, then the incoming carry (`+1`) if any
 *   subtraction  `13-7-1=5`   a leading `1` on the top digit marks a borrow taken, `-1` one repaid;
 *                a < b starts with `a-b=-(b-a)` and subtracts the other way round
 *   × one digit  `4*6+4=28`   per digit of the multiplicand, `+c` the carry from the previous line
 *   × two digits one partial product per digit of the multiplier (`47*6` … `=282`, `47*3` … `=141`),
 *                then their sum by columns (`282+1410`), the second shifted by one place
 * A missing digit of the shorter number counts as 0. Every section ends `=N`; the last `=N` is
 * the answer, repeated in `\boxed{N}` after `</think>` (DESIGN.md "Answers").
 *
 * Generation is seeded (`rng`), so `arithSplits` gives the same files everywhere; the split seeds
 * and sizes below are the committed dataset's.
 */
import { rng } from '../random.ts';

export type Op = '+' | '-' | '*';

export interface Problem {
  a: number;
  b: number;
  op: Op;
}

/** One kind of problem inside a difficulty level: operand lengths in digits (inclusive ranges). */
export interface ProblemKind {
  op: Op;
  aDigits: readonly [number, number];
  bDigits: readonly [number, number];
  /** Subtraction only: allow b > a (a negative answer). */
  negative?: boolean;
}

/**
 * Difficulty levels for curriculum, easy → hard. Each level draws one of its kinds uniformly.
 * Level 4's two-digit products are the longest records (about 125 tokens with the chat template).
 */
export const LEVELS: readonly (readonly ProblemKind[])[] = [
  // 1: one- and two-digit sums and differences
  [
    { op: '+', aDigits: [1, 2], bDigits: [1, 2] },
    { op: '-', aDigits: [1, 2], bDigits: [1, 2] },
  ],
  // 2: three digits; products by one digit
  [
    { op: '+', aDigits: [3, 3], bDigits: [1, 3] },
    { op: '-', aDigits: [3, 3], bDigits: [1, 3] },
    { op: '*', aDigits: [2, 2], bDigits: [1, 1] },
  ],
  // 3: four-digit sums, negative differences, three digits by one
  [
    { op: '+', aDigits: [4, 4], bDigits: [1, 4] },
    { op: '-', aDigits: [2, 3], bDigits: [2, 3], negative: true },
    { op: '*', aDigits: [3, 3], bDigits: [1, 1] },
  ],
  // 4: five-digit sums, four-digit differences, two digits by two
  [
    { op: '+', aDigits: [5, 5], bDigits: [1, 5] },
    { op: '-', aDigits: [4, 4], bDigits: [1, 4], negative: true },
    { op: '*', aDigits: [2, 2], bDigits: [2, 2] },
  ],
];

export const MAX_DIFFICULTY = LEVELS.length;

/** How the question is asked; `{e}` is the expression, e.g. `47*36`. */
export const PHRASINGS: readonly string[] = ['What is {e}?', 'Compute {e}.', 'Calculate {e}.'];

// a type, not an interface, so it fits ChatMessage's index signature
export type ChatTurn = {
  role: 'user' | 'assistant';
  content: string;
};

export interface ArithRecord {
  messages: [ChatTurn, ChatTurn];
  answer: string;
  difficulty: number;
}

// ---------------------------------------------------------------------------------------------
// the arithmetic, one column at a time

/** Digits of n, least significant first: 4078 → [8, 7, 0, 4]. */
function digitsLsb(n: number): number[] {
  return [...String(n)].reverse().map(Number);
}

/** Column addition: the lines and the sum. */
function addLines(a: number, b: number): { lines: string[]; value: number } {
  const x = digitsLsb(a);
  const y = digitsLsb(b);
  const lines: string[] = [];
  let carry = 0;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const s = (x[i] ?? 0) + (y[i] ?? 0) + carry;
    lines.push(`${x[i] ?? 0}+${y[i] ?? 0}${carry ? `+${carry}` : ''}=${s}`);
    carry = s >= 10 ? 1 : 0;
  }
  return { lines, value: a + b };
}

/** Column subtraction of b ≤ a: the lines and the difference. */
function subLines(a: number, b: number): { lines: string[]; value: number } {
  const x = digitsLsb(a);
  const y = digitsLsb(b);
  const lines: string[] = [];
  let borrow = 0;
  for (let i = 0; i < x.length; i++) {
    const top = x[i];
    const bottom = y[i] ?? 0;
    const repay = borrow ? `-${borrow}` : '';
    const d = top - bottom - borrow;
    // a borrow shows as the 1 written in front of the top digit
    lines.push(d < 0 ? `1${top}-${bottom}${repay}=${d + 10}` : `${top}-${bottom}${repay}=${d}`);
    borrow = d < 0 ? 1 : 0;
  }
  return { lines, value: a - b };
}

/** a × one digit: a heading, one line per digit of a, the partial product. */
function mulDigitLines(a: number, d: number): { lines: string[]; value: number } {
  const lines = [`${a}*${d}`];
  let carry = 0;
  for (const x of digitsLsb(a)) {
    const p = x * d + carry;
    lines.push(`${x}*${d}${carry ? `+${carry}` : ''}=${p}`);
    carry = Math.floor(p / 10);
  }
  lines.push(`=${a * d}`);
  return { lines, value: a * d };
}

/** The trace lines between `<think>` and `</think>`, and the answer. */
export function solve(p: Problem): { lines: string[]; answer: number } {
  const { a, b, op } = p;
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b < 0) {
    throw new RangeError(`solve: operands must be non-negative integers, got ${a} ${op} ${b}`);
  }
  if (op === '+') {
    const { lines, value } = addLines(a, b);
    return { lines: [...lines, `=${value}`], answer: value };
  }
  if (op === '-') {
    if (a >= b) {
      const { lines, value } = subLines(a, b);
      return { lines: [...lines, `=${value}`], answer: value };
    }
    const { lines, value } = subLines(b, a);
    return { lines: [`${a}-${b}=-(${b}-${a})`, ...lines, `=${-value}`], answer: -value };
  }
  const multiplier = digitsLsb(b);
  if (multiplier.length === 1) {
    const { lines, value } = mulDigitLines(a, b);
    return { lines, answer: value };
  }
  if (multiplier.length !== 2) throw new RangeError(`solve: multipliers have one or two digits, got ${b}`);
  const low = mulDigitLines(a, multiplier[0]);
  const high = mulDigitLines(a, multiplier[1]);
  const sum = addLines(low.value, high.value * 10);
  const lines = [...low.lines, ...high.lines, `${low.value}+${high.value * 10}`, ...sum.lines, `=${sum.value}`];
  return { lines, answer: sum.value };
}

export function expression(p: Problem): string {
  return `${p.a}${p.op}${p.b}`;
}

export function assistantText(p: Problem): string {
  const { lines, answer } = solve(p);
  return `<think>\n${lines.join('\n')}\n</think>\n\\boxed{${answer}}`;
}

export function toRecord(p: Problem, difficulty: number, phrasing: number): ArithRecord {
  const question = PHRASINGS[phrasing].replace('{e}', expression(p));
  return {
    messages: [
      { role: 'user', content: question },
      { role: 'assistant', content: assistantText(p) },
    ],
    answer: String(solve(p).answer),
    difficulty,
  };
}

// ---------------------------------------------------------------------------------------------
// seeded generation

type Rand = () => number;

function randInt(rand: Rand, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** A uniform number of exactly `digits` digits (0–9 for one digit). */
function randDigits(rand: Rand, digits: number): number {
  return digits === 1 ? randInt(rand, 0, 9) : randInt(rand, 10 ** (digits - 1), 10 ** digits - 1);
}

/** One problem of a level (1-based). */
export function randomProblem(rand: Rand, difficulty: number): Problem {
  const kinds = LEVELS[difficulty - 1];
  if (!kinds) throw new RangeError(`randomProblem: difficulty must be 1..${MAX_DIFFICULTY}, got ${difficulty}`);
  const kind = kinds[randInt(rand, 0, kinds.length - 1)];
  let a = randDigits(rand, randInt(rand, kind.aDigits[0], kind.aDigits[1]));
  let b = randDigits(rand, randInt(rand, kind.bDigits[0], kind.bDigits[1]));
  if (kind.op === '+' && rand() < 0.5) [a, b] = [b, a]; // the long number on either side
  if (kind.op === '-' && !kind.negative && b > a) [a, b] = [b, a];
  return { a, b, op: kind.op };
}

export interface SplitSpec {
  name: 'train' | 'val' | 'test';
  size: number;
  seed: number;
}

/** The committed dataset. Test and val are drawn first; train never repeats their questions. */
export const SPLITS: readonly SplitSpec[] = [
  { name: 'test', size: 500, seed: 0x7e57 },
  { name: 'val', size: 200, seed: 0x0a1 },
  { name: 'train', size: 12000, seed: 0x7a1 },
];

/**
 * Records of the splits in `SPLITS` order: difficulty cycles 1..MAX so every level is equally
 * common; questions are unique across all splits (a repeat is redrawn).
 */
export function arithSplits(splits: readonly SplitSpec[] = SPLITS): Record<SplitSpec['name'], ArithRecord[]> {
  const seen = new Set<string>();
  const out: Record<string, ArithRecord[]> = {};
  for (const split of splits) {
    const rand = rng(split.seed);
    const records: ArithRecord[] = [];
    while (records.length < split.size) {
      const difficulty = (records.length % MAX_DIFFICULTY) + 1;
      const p = randomProblem(rand, difficulty);
      const phrasing = randInt(rand, 0, PHRASINGS.length - 1);
      const key = expression(p);
      if (seen.has(key)) continue;
      seen.add(key);
      records.push(toRecord(p, difficulty, phrasing));
    }
    out[split.name] = records;
  }
  return out as Record<SplitSpec['name'], ArithRecord[]>;
}

/** One JSON object per line, `\n`-terminated: the bytes of the committed files. */
export function toJsonl(records: readonly ArithRecord[]): string {
  return records.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

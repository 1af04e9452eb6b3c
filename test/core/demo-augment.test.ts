import { describe, expect, it } from 'vitest';
import { arithSplits, type ArithRecord } from '../../src/core/demo/arith.ts';
import { augment, negative, paraphrase, problemOf, substitute } from '../../src/core/demo/augment.ts';
import { checkAnswer } from '../../src/core/answers.ts';
import { rng } from '../../src/core/random.ts';

// a few hundred records of every difficulty, from the committed generator's val split
const records: ArithRecord[] = arithSplits([{ name: 'val', size: 200, seed: 0x0a1 }]).val;

/** The answer computed here from the question's numbers with BigInt, not by arith.ts's columns. */
function independentAnswer(question: string): string {
  const m = /(\d+)\s*(?:([+\-*])|(plus|minus|times))\s*(\d+)/.exec(question);
  if (!m) throw new Error(`no expression in ${question}`);
  const op = m[2] ?? { plus: '+', minus: '-', times: '*' }[m[3] as 'plus' | 'minus' | 'times'];
  const [a, b] = [BigInt(m[1]), BigInt(m[4])];
  return String(op === '+' ? a + b : op === '-' ? a - b : a * b);
}

describe('demo data recipes', () => {
  it('paraphrases keep the problem, the trace and the answer', () => {
    const rand = rng(1);
    const questions = new Set<string>();
    for (const r of records) {
      const p = paraphrase(r, rand);
      expect(p.messages[1].content).toBe(r.messages[1].content);
      expect(p.answer).toBe(r.answer);
      expect(independentAnswer(p.messages[0].content)).toBe(r.answer);
      questions.add(p.messages[0].content.replace(/\d+/g, 'N'));
    }
    expect(questions.size).toBeGreaterThanOrEqual(6); // the templates are all used
  });

  it('substitution draws new numbers of the same shape and recomputes trace and answer', () => {
    const rand = rng(2);
    for (const r of records) {
      const s = substitute(r, rand);
      const [p, q] = [problemOf(r), problemOf(s)];
      expect(q.op).toBe(p.op);
      expect([String(q.a).length, String(q.b).length]).toEqual([String(p.a).length, String(p.b).length]);
      expect(q.a >= q.b).toBe(p.op === '-' ? p.a >= p.b : q.a >= q.b); // a difference keeps its sign
      expect(`${q.a}${q.op}${q.b}`).not.toBe(`${p.a}${p.op}${p.b}`);
      expect(s.answer).toBe(independentAnswer(s.messages[0].content));
      expect(checkAnswer(s.messages[1].content, s.answer).correct).toBe(true);
      expect(s.difficulty).toBe(r.difficulty);
    }
  });

  it('negatives are wrong answers that leave the correct trace at one column or the final line', () => {
    const rand = rng(3);
    for (const r of records) {
      const n = negative(r, rand);
      expect(n.negative).toBe(true);
      expect(n.messages[0]).toEqual(r.messages[0]);
      expect(checkAnswer(n.messages[1].content, r.answer).correct).toBe(false);
      const good = r.messages[1].content.split('\n');
      const bad = n.messages[1].content.split('\n');
      expect(bad.length).toBe(good.length);
      const differing = good.flatMap((line, i) => (line === bad[i] ? [] : [i]));
      // the last two differing lines are always `=answer` and `\boxed{answer}`; at most one column line before them
      expect(differing.slice(-2)).toEqual([good.length - 3, good.length - 1]);
      expect(differing.length).toBeLessThanOrEqual(3);
      const { op, a, b } = problemOf(r);
      if (op === '+' || (op === '-' && a >= b)) expect(differing.length).toBe(3);
      const wrong = BigInt(/\\boxed\{(-?\d+)\}/.exec(n.messages[1].content)![1]) - BigInt(r.answer);
      expect(wrong === 0n).toBe(false);
      expect(String(wrong < 0n ? -wrong : wrong)).toMatch(/^10*$/); // off by one unit of one place
    }
  });

  it('augment keeps each record first, then its copies, and is seeded', () => {
    const opts = { paraphrase: 2, substitute: 1, negatives: 0.5, seed: 9 };
    const out = augment(records.slice(0, 40), opts);
    expect(out).toEqual(augment(records.slice(0, 40), opts));
    const negatives = out.filter((r) => r.negative).length;
    expect(out.length).toBe(40 * 4 + negatives);
    expect(negatives).toBeGreaterThan(10);
    expect(negatives).toBeLessThan(30);
    expect(out[0]).toEqual(records[0]);
  });

  it('names the record it cannot read', () => {
    const bad = { ...records[0], messages: [{ role: 'user', content: 'hello' }, records[0].messages[1]] } as ArithRecord;
    expect(() => substitute(bad, rng(1))).toThrow(/no "a op b" expression in the question "hello"/);
  });
});

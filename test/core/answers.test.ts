import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  allBoxed,
  checkAnswer,
  extractBoxed,
  hasThinkFormat,
  normalizeAnswer,
  numericValue,
  splitThink,
} from '../../src/core/answers.ts';

interface FixtureCase {
  line: number;
  note: string;
  output: string;
  reference: string;
  correct: boolean;
  extracted: string | null;
}

/** test/fixtures/answers.jsonl: the cases this checker and the torch worker's Python mirror must both pass. */
function loadFixture(): FixtureCase[] {
  const path = 'test/fixtures/answers.jsonl';
  const text = readFileSync(new URL('../fixtures/answers.jsonl', import.meta.url), 'utf8');
  return text
    .split('\n')
    .map((raw, i) => ({ raw, line: i + 1 }))
    .filter(({ raw }) => raw.trim())
    .map(({ raw, line }) => {
      const c = JSON.parse(raw) as Omit<FixtureCase, 'line'>;
      const ok =
        typeof c.note === 'string' &&
        typeof c.output === 'string' &&
        typeof c.reference === 'string' &&
        typeof c.correct === 'boolean' &&
        (c.extracted === null || typeof c.extracted === 'string');
      if (!ok) throw new Error(`${path}:${line}: expected {note, output, reference, correct, extracted}`);
      return { ...c, line };
    });
}

describe('answers fixture', () => {
  const cases = loadFixture();
  it('has the cases the Python mirror relies on', () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });
  it.each(cases.map((c) => [`line ${c.line}: ${c.note}`, c] as const))('%s', (_, c) => {
    const res = checkAnswer(c.output, c.reference);
    expect({ correct: res.correct, extracted: res.extracted }).toEqual({ correct: c.correct, extracted: c.extracted });
  });
});

describe('extractBoxed', () => {
  it('matches nested braces and skips escaped ones', () => {
    expect(allBoxed('\\boxed{a{b{c}}d} and \\boxed{\\}x}')).toEqual(['a{b{c}}d', '\\}x']);
    expect(extractBoxed('\\boxed{1} </think> no box here')).toBe('1');
    expect(extractBoxed('\\boxed{1} </think> \\boxed{2} \\boxed{3')).toBe('2');
    expect(extractBoxed('nothing')).toBeNull();
  });
});

describe('normalizeAnswer', () => {
  it.each([
    [' $\\frac{1}{2}$. ', '1/2'],
    ['\\tfrac{a+b}{2}', '(a+b)/(2)'],
    ['\\text{ yes }', 'yes'],
    ['+1,000', '1000'],
    ['1,00', '1,00'],
    ['\\left( 1, 2 \\right)', '(1,2)'],
    ['45^{\\circ}', '45'],
    ['3\\,000', '3000'],
  ])('%s → %s', (raw, expected) => {
    expect(normalizeAnswer(raw)).toBe(expected);
  });

  it('reads numbers and simple fractions', () => {
    expect(['12', '12.0', '-0.25', '.5', '1e3', '-3/4', '(1)/(8)', 'x', '1/0'].map(numericValue)).toEqual([
      12, 12, -0.25, 0.5, 1000, -0.75, 0.125, null, null,
    ]);
  });
});

describe('think format', () => {
  it.each([
    ['<think>reasoning</think>\n\\boxed{1}', true],
    ['reasoning without the opening tag</think> answer', true],
    ['  <think>r</think> a', true],
    ['<think>r</think>   ', false], // nothing after
    ['<think>never closed \\boxed{1}', false],
    ['<think>a</think><think>b</think> c', false],
    ['x <think>r</think> a', false], // text before <think>
    ['</think> a <think>', false],
    ['no tags at all', false],
  ])('%j → %s', (text, expected) => {
    expect(hasThinkFormat(text)).toBe(expected);
  });

  it('splits reasoning from the answer', () => {
    expect(splitThink('<think>why</think> 42')).toEqual({ think: 'why', answer: ' 42' });
    expect(splitThink('why</think>42')).toEqual({ think: 'why', answer: '42' });
    expect(splitThink('just 42')).toEqual({ think: null, answer: 'just 42' });
  });
});

/**
 * The answer checker (DESIGN.md "Answers"): reasoning samples end `</think>` followed by the answer,
 * with the final value in `\boxed{…}`. A Python mirror in the torch worker shares the fixture
 * test/fixtures/answers.jsonl, so every rule here is plain string work that ports line for line.
 */

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

export interface CheckResult {
  correct: boolean;
  /** The raw contents of the chosen \boxed{}, or null when the output has none. */
  extracted: string | null;
  reason: 'equal' | 'numeric' | 'different' | 'no-answer';
}

/** The contents of the last \boxed{…} after the last </think>, else the last one anywhere; null if none. */
export function extractBoxed(text: string): string | null {
  const close = text.lastIndexOf(THINK_CLOSE);
  if (close >= 0) {
    const after = lastBoxed(text.slice(close + THINK_CLOSE.length));
    if (after !== null) return after;
  }
  return lastBoxed(text);
}

/** Every complete \boxed{…} in order; unterminated ones are skipped. Braces nest; \{ and \} are literal. */
export function allBoxed(text: string): string[] {
  const found: string[] = [];
  const re = /\\boxed\s*\{/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index + m[0].length;
    const end = matchingBrace(text, start);
    if (end >= 0) {
      found.push(text.slice(start, end));
      re.lastIndex = end + 1;
    }
  }
  return found;
}

function lastBoxed(text: string): string | null {
  const all = allBoxed(text);
  return all.length ? all[all.length - 1] : null;
}

/** Index of the `}` closing the group that starts at `start` (just after its `{`), or −1. */
function matchingBrace(text: string, start: number): number {
  let depth = 1;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') i++; // skip the escaped character: \{ \} do not group
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

/**
 * Canonical text of an answer, applied in this order:
 * `\text{x}`/`\textbf{x}`/`\mathrm{x}` → x; `\dfrac`/`\tfrac` → `\frac`; `\frac{a}{b}` and `\frac ab` → a/b
 * ((a)/(b) unless both are plain words or numbers); drop `$`, `\left`, `\right`, LaTeX spacing (`\,` `\;`
 * `\!` `\ `), `^\circ`, `^{\circ}`, `°`, `\%`, `%`; − → -; remove all whitespace; drop trailing periods; drop
 * `{,}` and thousands commas in a number like 1,234,567; drop a leading `+`.
 */
export function normalizeAnswer(s: string): string {
  let t = s;
  for (;;) {
    const next = t.replace(/\\(?:text|textbf|textrm|mathrm|mathbf)\s*\{([^{}]*)\}/g, '$1');
    if (next === t) break;
    t = next;
  }
  t = t.replace(/\\[dt]frac/g, '\\frac');
  t = t.replace(/\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, (_, a: string, b: string) => fraction(a, b));
  t = t.replace(/\\frac\s*(\d)\s*(\d)/g, '$1/$2');
  t = t.replace(/\$/g, '').replace(/\\left|\\right/g, '');
  t = t.replace(/\\[,;:! ]/g, '');
  t = t.replace(/\^\s*\{?\s*\\circ\s*\}?/g, '').replace(/°/g, '');
  t = t.replace(/\\?%/g, '');
  t = t.replace(/\u2212/g, '-');
  t = t.replace(/\s+/g, '');
  t = t.replace(/\.+$/, '');
  t = t.replace(/\{,\}/g, '');
  if (/^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$/.test(t)) t = t.replace(/,/g, '');
  t = t.replace(/^\+/, '');
  return t;
}

function fraction(a: string, b: string): string {
  const plain = (x: string) => /^[\w.]+$/.test(x.trim());
  return plain(a) && plain(b) ? `${a.trim()}/${b.trim()}` : `(${a.trim()})/(${b.trim()})`;
}

/** The value of a normalized number: decimal (1e3 allowed) or integer fraction a/b; null otherwise. */
export function numericValue(normalized: string): number | null {
  if (/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(normalized)) return Number(normalized);
  const frac = /^(-?)\(?(\d+)\)?\/\(?(\d+)\)?$/.exec(normalized);
  if (frac && Number(frac[3]) !== 0) return (frac[1] ? -1 : 1) * (Number(frac[2]) / Number(frac[3]));
  return null;
}

/** Numbers agree within 1e-9 relative (absolute below 1). */
export function numbersEqual(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Judge an output against a reference answer (itself possibly wrapped in \boxed{}). */
export function checkAnswer(output: string, reference: string): CheckResult {
  const extracted = extractBoxed(output);
  if (extracted === null) return { correct: false, extracted, reason: 'no-answer' };
  const got = normalizeAnswer(extracted);
  const want = normalizeAnswer(extractBoxed(reference) ?? reference);
  if (got === want && got !== '') return { correct: true, extracted, reason: 'equal' };
  const a = numericValue(got);
  const b = numericValue(want);
  if (a !== null && b !== null && numbersEqual(a, b)) return { correct: true, extracted, reason: 'numeric' };
  return { correct: false, extracted, reason: 'different' };
}

/**
 * A well-formed reasoning sample: at most one `<think>` (with only whitespace before it — R1 chat
 * templates put it in the prompt, so it may be absent), exactly one `</think>` after it, and a
 * non-empty answer after that.
 */
export function hasThinkFormat(text: string): boolean {
  const closes = text.split(THINK_CLOSE).length - 1;
  const opens = text.split(THINK_OPEN).length - 1;
  if (closes !== 1 || opens > 1) return false;
  const close = text.indexOf(THINK_CLOSE);
  if (opens === 1) {
    const open = text.indexOf(THINK_OPEN);
    if (open > close || text.slice(0, open).trim() !== '') return false;
  }
  return text.slice(close + THINK_CLOSE.length).trim() !== '';
}

/** Split a sample into its reasoning and its answer (for folding `<think>` in the UI). */
export function splitThink(text: string): { think: string | null; answer: string } {
  const close = text.lastIndexOf(THINK_CLOSE);
  if (close < 0) return { think: null, answer: text };
  const open = text.indexOf(THINK_OPEN);
  const from = open >= 0 && open < close ? open + THINK_OPEN.length : 0;
  return { think: text.slice(from, close), answer: text.slice(close + THINK_CLOSE.length) };
}

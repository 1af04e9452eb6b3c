/**
 * The embedded demo's data, tokenizer and models, checked against independent references:
 * SHA-256 of the committed files, BigInt arithmetic and a line-by-line re-derivation of every
 * trace (written here from the description in arith.ts, not with its code), transformers.js
 * round trips, and the committed checkpoints read back through hf-config and safetensors.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { demoDataCommand, demoDataFiles, demoModelsCommand } from '../../src/cli/demo.ts';
import { checkAnswer, extractBoxed } from '../../src/core/answers.ts';
import { arithSplits, LEVELS, randomProblem, solve, type ArithRecord } from '../../src/core/demo/arith.ts';
import { demoConfigJson, demoParams, STUDENT_DIMS, TEACHER_DIMS, teacherLayerSources, teacherLayersFor } from '../../src/core/demo/models.ts';
import { demoTokenizerFiles, PLAIN_ADDED_TOKENS, SPECIAL_TOKENS, WORDS } from '../../src/core/demo/tokenizer-files.ts';
import { loadHfConfig, parseHfConfig } from '../../src/core/hf-config.ts';
import { countParams, validateCheckpoint } from '../../src/core/model-spec.ts';
import { rng } from '../../src/core/random.ts';
import { Checkpoint } from '../../src/core/safetensors.ts';
import { loadTokenizer, type Tokenizer } from '../../src/core/tokenizer.ts';

const DATA = 'public/data/arith';
const TEACHER = 'public/models/demo-teacher';
const STUDENT = 'public/models/demo-student';
const repo = new NodeFileSource(process.cwd());
const sha256 = (bytes: string | Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function readRecords(name: string): ArithRecord[] {
  return readFileSync(`${DATA}/${name}.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as ArithRecord);
}

describe('demo dataset generator', () => {
  it('regenerates the committed files byte for byte (SHA-256)', () => {
    const files = demoDataFiles();
    expect([...files.keys()].sort()).toEqual(['test.jsonl', 'train.jsonl', 'val.jsonl']);
    for (const [name, text] of files) {
      const committed = readFileSync(`${DATA}/${name}`);
      expect(sha256(text), `${DATA}/${name} differs from the generator: run retort demo-data`).toBe(sha256(committed));
    }
    console.log([...files].map(([n, t]) => `${n} ${sha256(t).slice(0, 16)}`).join(', '));
  });

  it('is deterministic within a run and sensitive to the seed', () => {
    const a = arithSplits([{ name: 'test', size: 50, seed: 1 }]);
    const b = arithSplits([{ name: 'test', size: 50, seed: 1 }]);
    const c = arithSplits([{ name: 'test', size: 50, seed: 2 }]);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
  });

  it('keeps questions unique across splits and levels equally common', () => {
    const seen = new Map<string, string>();
    for (const split of ['train', 'val', 'test']) {
      const counts = new Map<number, number>();
      for (const r of readRecords(split)) {
        const q = r.messages[0].content.replace(/^\D*/, '');
        expect(seen.get(q), `${q} in ${split} and ${seen.get(q)}`).toBeUndefined();
        seen.set(q, split);
        counts.set(r.difficulty, (counts.get(r.difficulty) ?? 0) + 1);
      }
      const sizes = [...counts.values()];
      expect(counts.size).toBe(LEVELS.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('retort demo-data writes the same bytes elsewhere, and --check finds a changed file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'demo-data-'));
    try {
      expect(await demoDataCommand(['--out', dir])).toBe(0);
      for (const name of ['train.jsonl', 'val.jsonl', 'test.jsonl']) {
        expect(sha256(readFileSync(join(dir, name))), name).toBe(sha256(readFileSync(`${DATA}/${name}`)));
      }
      expect(await demoDataCommand(['--out', dir, '--check'])).toBe(0);
      rmSync(join(dir, 'val.jsonl'));
      expect(await demoDataCommand(['--out', dir, '--check'])).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retort demo-models refuses bad options before doing any work', async () => {
    await expect(demoModelsCommand(['--student-init', 'big'])).rejects.toThrow(/--student-init: expected random or teacher-layers, got "big"/);
    await expect(demoModelsCommand(['--steps', '0'])).rejects.toThrow(/--steps: expected a positive integer, got "0"/);
    await expect(demoModelsCommand(['--lr', 'fast'])).rejects.toThrow(/--lr: "fast" is not a number/);
  });

  it('refuses an unknown difficulty and bad operands, naming them', () => {
    expect(() => randomProblem(rng(1), 0)).toThrow(/difficulty must be 1\.\.4, got 0/);
    expect(() => randomProblem(rng(1), 5)).toThrow(/got 5/);
    expect(() => solve({ a: -1, b: 2, op: '+' })).toThrow(/non-negative integers, got -1 \+ 2/);
    expect(() => solve({ a: 12, b: 345, op: '*' })).toThrow(/one or two digits, got 345/);
  });
});

// ---------------------------------------------------------------------------------------------
// An independent re-derivation of the traces with BigInt, from the format described in arith.ts.

const QUESTION = /^(?:What is (\d+)([+*-])(\d+)\?|Compute (\d+)([+*-])(\d+)\.|Calculate (\d+)([+*-])(\d+)\.)$/;

function parseQuestion(text: string): { a: bigint; op: string; b: bigint } {
  const m = QUESTION.exec(text);
  if (!m) throw new Error(`question "${text}" has an unexpected shape`);
  const g = m.slice(1).filter((x) => x !== undefined);
  return { a: BigInt(g[0]), op: g[1], b: BigInt(g[2]) };
}

const digitsOf = (n: bigint) => [...n.toString()].reverse().map(BigInt); // least significant first

/** Checks column lines `x+y[+c]=s` against the operands' digits and the carry chain; returns the value. */
function checkAddition(lines: string[], a: bigint, b: bigint, where: string): bigint {
  const x = digitsOf(a);
  const y = digitsOf(b);
  const columns = Math.max(x.length, y.length);
  expect(lines.length, `${where}: one line per column`).toBe(columns);
  let carry = 0n;
  let value = 0n;
  lines.forEach((line, i) => {
    const m = /^(\d)\+(\d)(?:\+(\d))?=(\d+)$/.exec(line);
    expect(m, `${where}: line "${line}"`).not.toBeNull();
    const [, p, q, c, s] = m!;
    expect([BigInt(p), BigInt(q), BigInt(c ?? 0)], `${where}: "${line}" digits and carry`).toEqual([x[i] ?? 0n, y[i] ?? 0n, carry]);
    expect(c === '0', `${where}: "${line}" writes a zero carry`).toBe(false);
    expect(BigInt(s), `${where}: "${line}"`).toBe(BigInt(p) + BigInt(q) + BigInt(c ?? 0));
    carry = BigInt(s) / 10n;
    value += (i === columns - 1 ? BigInt(s) : BigInt(s) % 10n) * 10n ** BigInt(i);
  });
  return value;
}

/** Column lines `[1]t-d[-1]=r` of a ≥ b. */
function checkSubtraction(lines: string[], a: bigint, b: bigint, where: string): bigint {
  const x = digitsOf(a);
  const y = digitsOf(b);
  expect(lines.length, `${where}: one line per digit of ${a}`).toBe(x.length);
  let borrow = 0n;
  let value = 0n;
  lines.forEach((line, i) => {
    const m = /^(1?)(\d)-(\d)(?:-(1))?=(\d)$/.exec(line);
    expect(m, `${where}: line "${line}"`).not.toBeNull();
    const [, borrowed, t, d, repaid, r] = m!;
    expect([BigInt(t), BigInt(d), repaid ? 1n : 0n], `${where}: "${line}" digits and borrow`).toEqual([x[i], y[i] ?? 0n, borrow]);
    const top = BigInt(t) + (borrowed ? 10n : 0n);
    const diff = top - BigInt(d) - borrow;
    expect(diff >= 0n && diff <= 9n, `${where}: "${line}" needs a borrow iff the column is negative`).toBe(true);
    expect(borrowed === '1', `${where}: "${line}" borrows only when needed`).toBe(BigInt(t) - BigInt(d) - borrow < 0n);
    expect(BigInt(r)).toBe(diff);
    borrow = borrowed ? 1n : 0n;
    value += diff * 10n ** BigInt(i);
  });
  expect(borrow, `${where}: no borrow left after the top digit`).toBe(0n);
  return value;
}

/** Heading `a*d`, lines `x*d[+c]=p`, `=P`; consumes them from `lines`; returns P. */
function checkPartial(lines: string[], a: bigint, d: bigint, where: string): bigint {
  expect(lines.shift(), `${where}: heading`).toBe(`${a}*${d}`);
  const x = digitsOf(a);
  let carry = 0n;
  let value = 0n;
  x.forEach((xi, i) => {
    const line = lines.shift()!;
    const m = /^(\d)\*(\d)(?:\+(\d))?=(\d+)$/.exec(line);
    expect(m, `${where}: line "${line}"`).not.toBeNull();
    const [, p, q, c, s] = m!;
    expect([BigInt(p), BigInt(q), BigInt(c ?? 0)], `${where}: "${line}"`).toEqual([xi, d, carry]);
    expect(c === '0', `${where}: "${line}" writes a zero carry`).toBe(false);
    expect(BigInt(s)).toBe(BigInt(p) * BigInt(q) + BigInt(c ?? 0));
    carry = BigInt(s) / 10n;
    value += (i === x.length - 1 ? BigInt(s) : BigInt(s) % 10n) * 10n ** BigInt(i);
  });
  expect(lines.shift(), `${where}: partial product`).toBe(`=${value}`);
  return value;
}

function checkTrace(r: ArithRecord, where: string): void {
  const { a, op, b } = parseQuestion(r.messages[0].content);
  const truth = op === '+' ? a + b : op === '-' ? a - b : a * b;
  expect(r.answer, `${where}: answer`).toBe(truth.toString());

  const text = r.messages[1].content;
  const m = /^<think>\n([\s\S]*)\n<\/think>\n\\boxed\{(-?\d+)\}$/.exec(text);
  expect(m, `${where}: <think>…</think>\\n\\boxed{N} shape`).not.toBeNull();
  expect(m![2]).toBe(truth.toString());
  expect(checkAnswer(text, r.answer).correct, `${where}: the shared answer checker agrees`).toBe(true);
  expect(extractBoxed(text)).toBe(r.answer);
  const lines = m![1].split('\n');
  expect(lines.at(-1), `${where}: the last line states the answer`).toBe(`=${truth}`);

  if (op === '+') {
    expect(checkAddition(lines.slice(0, -1), a, b, where)).toBe(truth);
  } else if (op === '-') {
    if (a >= b) {
      expect(checkSubtraction(lines.slice(0, -1), a, b, where)).toBe(truth);
    } else {
      expect(lines[0], `${where}: swap line`).toBe(`${a}-${b}=-(${b}-${a})`);
      expect(-checkSubtraction(lines.slice(1, -1), b, a, where)).toBe(truth);
    }
  } else {
    const rest = [...lines];
    const bd = digitsOf(b);
    if (bd.length === 1) {
      expect(checkPartial(rest, a, b, where)).toBe(truth);
      expect(rest).toEqual([]);
    } else {
      expect(bd.length, `${where}: two-digit multiplier`).toBe(2);
      const low = checkPartial(rest, a, bd[0], where);
      const high = checkPartial(rest, a, bd[1], where);
      expect(rest.shift(), `${where}: sum heading`).toBe(`${low}+${high * 10n}`);
      expect(checkAddition(rest.slice(0, -1), low, high * 10n, where)).toBe(truth);
    }
  }
}

describe('demo traces', () => {
  it('every record of every split: answer by BigInt, every trace line re-derived', () => {
    let records = 0;
    let lines = 0;
    for (const split of ['train', 'val', 'test']) {
      readRecords(split).forEach((r, i) => {
        checkTrace(r, `${DATA}/${split}.jsonl:${i + 1}`);
        records++;
        lines += r.messages[1].content.split('\n').length;
      });
    }
    console.log(`${records} records, ${lines} trace lines checked; 0 mismatches`);
  });

  it('covers the hard cases: carries into a new digit, borrows across zeros, negatives, ×0', () => {
    const trace = (a: number, op: '+' | '-' | '*', b: number) => solve({ a, b, op }).lines.join(' ');
    expect(trace(999, '+', 1)).toBe('9+1=10 9+0+1=10 9+0+1=10 =1000');
    expect(trace(1000, '-', 1)).toBe('10-1=9 10-0-1=9 10-0-1=9 1-0-1=0 =999');
    expect(trace(12, '-', 345)).toBe('12-345=-(345-12) 5-2=3 4-1=3 3-0=3 =-333');
    expect(trace(47, '*', 30)).toBe('47*0 7*0=0 4*0=0 =0 47*3 7*3=21 4*3+2=14 =141 0+1410 0+0=0 0+1=1 0+4=4 0+1=1 =1410');
    for (const [a, op, b] of [[999, '+', 1], [1000, '-', 1], [12, '-', 345], [47, '*', 30], [99, '*', 99]] as const) {
      const text = `<think>\n${solve({ a, b, op }).lines.join('\n')}\n</think>\n\\boxed{${solve({ a, b, op }).answer}}`;
      checkTrace({ messages: [{ role: 'user', content: `What is ${a}${op}${b}?` }, { role: 'assistant', content: text }], answer: String(solve({ a, b, op }).answer), difficulty: 1 }, `${a}${op}${b}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('demo tokenizer', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer(repo, TEACHER);
  });

  it('the committed files are the generated ones, in both model folders', () => {
    const files = demoTokenizerFiles();
    for (const dir of [TEACHER, STUDENT]) {
      for (const name of ['tokenizer.json', 'tokenizer_config.json'] as const) {
        expect(JSON.parse(readFileSync(`${dir}/${name}`, 'utf8')), `${dir}/${name}`).toEqual(files[name]);
      }
    }
  });

  it('has Qwen-style special tokens, eos and pad', () => {
    const size = tok.size;
    expect(tok.tokenToId('<|endoftext|>')).toBe(size - 6);
    expect(tok.tokenToId('<|im_start|>')).toBe(size - 5);
    expect(tok.tokenToId('<|im_end|>')).toBe(size - 4);
    expect(tok.eosIds).toContain(tok.tokenToId('<|im_end|>'));
    expect(tok.padId).toBe(tok.tokenToId('<|endoftext|>'));
    expect(tok.bosId).toBeNull();
    for (const t of [...SPECIAL_TOKENS, ...PLAIN_ADDED_TOKENS, ...WORDS, ...'0123456789+-*=\n ']) {
      expect(tok.encode(t), JSON.stringify(t)).toEqual([tok.tokenToId(t)]);
    }
    // <think> is kept when special tokens are skipped (as in Qwen3); <|im_end|> is not
    const ids = tok.encode('<think>\n1+2=3\n</think>\n\\boxed{3}<|im_end|>');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('<think>\n1+2=3\n</think>\n\\boxed{3}');
  });

  it('renders ChatML and round-trips every record exactly, at most 128 tokens each', () => {
    const r = readRecords('test')[0];
    expect(tok.renderChat(r.messages)).toBe(`<|im_start|>user\n${r.messages[0].content}<|im_end|>\n<|im_start|>assistant\n${r.messages[1].content}<|im_end|>\n`);
    expect(tok.renderChat([r.messages[0]], { addGenerationPrompt: true })).toBe(`<|im_start|>user\n${r.messages[0].content}<|im_end|>\n<|im_start|>assistant\n`);
    let longest = 0;
    let count = 0;
    for (const split of ['train', 'val', 'test']) {
      for (const rec of readRecords(split)) {
        const { text, ids } = tok.applyChatTemplate(rec.messages);
        expect(tok.decode(ids), text).toBe(text);
        // characters, not bytes: one id per digit so the model sees every digit on its own
        expect(ids.length).toBeLessThan(text.length);
        longest = Math.max(longest, ids.length);
        count++;
      }
    }
    console.log(`${count} records round-trip exactly; longest ${longest} tokens`);
    expect(longest).toBeLessThanOrEqual(128);
  });

  it('encodes any printable ASCII (nothing is dropped)', () => {
    let ascii = '';
    for (let c = 0x20; c < 0x7f; c++) ascii += String.fromCharCode(c);
    const text = `${ascii}\nassistant systems user: What is Computed?`;
    expect(tok.decode(tok.encode(text))).toBe(text);
  });
});

// ---------------------------------------------------------------------------------------------

describe('demo models', () => {
  it('the committed teacher loads: config, every tensor with its shape, finite weights', async () => {
    const spec = await loadHfConfig(repo, TEACHER);
    expect(spec).toMatchObject({ arch: 'qwen2', qkvBias: true, tieEmbeddings: true, hidden: TEACHER_DIMS.hidden, layers: TEACHER_DIMS.layers });
    const tok = await loadTokenizer(repo, TEACHER);
    expect(spec.vocabSize).toBe(tok.size);
    const ckpt = await Checkpoint.open(repo, TEACHER);
    expect(validateCheckpoint(spec, ckpt).unused).toEqual([]);
    let n = 0;
    let worst = 0;
    for (const name of ckpt.names()) {
      const w = await ckpt.float32(name);
      n += w.length;
      // norm weights start at 1: look at the matrices, which start N(0, 0.02)
      if (!name.endsWith('norm.weight')) for (const x of w) worst = Math.max(worst, Math.abs(x));
      expect(w.every(Number.isFinite), name).toBe(true);
    }
    expect(n).toBe(countParams(spec));
    expect(n).toBe(demoParams(TEACHER_DIMS));
    console.log(`teacher: ${n} parameters, largest |w| outside norms ${worst.toFixed(3)}`);
    expect(worst).toBeGreaterThan(0.2); // trained: an N(0, 0.02) init stays below ~0.12
  });

  it('the committed student is at most a quarter of the teacher and its tensors are what its init says', async () => {
    const tSpec = await loadHfConfig(repo, TEACHER);
    const sSpec = await loadHfConfig(repo, STUDENT);
    const student = await Checkpoint.open(repo, STUDENT);
    validateCheckpoint(sSpec, student);
    expect(countParams(sSpec) / countParams(tSpec)).toBeLessThanOrEqual(0.25);
    for (const dims of Object.values(STUDENT_DIMS)) expect(demoParams(dims) / demoParams(TEACHER_DIMS)).toBeLessThanOrEqual(0.25);
    if (sSpec.hidden === tSpec.hidden) {
      const teacher = await Checkpoint.open(repo, TEACHER);
      const layers = teacherLayersFor(sSpec.layers, tSpec.layers);
      for (const [name, from] of teacherLayerSources(sSpec, tSpec, layers)) {
        expect(await student.float32(name), `${name} = teacher ${from}`).toEqual(await teacher.float32(from));
      }
    } else {
      const w = await student.float32('model.layers.0.mlp.up_proj.weight');
      const mean = w.reduce((a, b) => a + b, 0) / w.length;
      const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
      console.log(`random student: up_proj mean ${mean.toExponential(2)}, std ${std.toFixed(5)} (want 0.02)`);
      expect(Math.abs(std - 0.02)).toBeLessThan(0.001);
      expect(Math.abs(mean)).toBeLessThan(0.001);
    }
  });

  it('generated configs parse, and both student shapes fit the ¼ budget', () => {
    for (const dims of [TEACHER_DIMS, ...Object.values(STUDENT_DIMS)]) {
      const spec = parseHfConfig(demoConfigJson(dims), 'demo config');
      expect(countParams(spec)).toBe(demoParams(dims));
    }
    expect(teacherLayersFor(1, 6)).toEqual([0]);
    expect(teacherLayersFor(3, 7)).toEqual([0, 3, 6]);
    expect(() => teacherLayersFor(7, 6)).toThrow(/7 layers cannot copy from 6/);
  });

  it('teacher-layers init refuses a student of another width, naming both', () => {
    const teacher = parseHfConfig(demoConfigJson(TEACHER_DIMS), 'teacher');
    const narrow = parseHfConfig(demoConfigJson(STUDENT_DIMS.random), 'student');
    expect(() => teacherLayerSources(narrow, teacher, [0, 1, 2])).toThrow(/needs the teacher's widths: student hidden\/intermediate\/heads\/kv 48\/128\/2\/1, teacher 64\/256\/2\/1/);
    const one = parseHfConfig(demoConfigJson(STUDENT_DIMS['teacher-layers']), 'student');
    expect(() => teacherLayerSources(one, teacher, [6])).toThrow(/teacher layer 6 does not exist \(the teacher has 6\)/);
    expect(() => teacherLayerSources(one, teacher, [0, 1])).toThrow(/2 layers listed for a student of 1/);
  });
});

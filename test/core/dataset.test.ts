import { beforeAll, describe, expect, it } from 'vitest';
import {
  collate,
  datasetHash,
  type Example,
  loadDataset,
  packExamples,
  parseJsonl,
  tokenizeRecord,
} from '../../src/core/dataset.ts';
import { FormatError } from '../../src/core/errors.ts';
import { MapFileSource } from '../../src/core/files.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';
import { loadQwenTokenizer } from '../helpers/qwen-tokenizer.ts';

const IM_START = 151644;
const IM_END = 151645;
let tok: Tokenizer;
beforeAll(async () => {
  tok = await loadQwenTokenizer();
});

/** The decoded text of each maximal run of lossMask = 1. */
function maskedSpans(ex: Example): string[] {
  const spans: string[] = [];
  let run: number[] = [];
  for (let t = 0; t <= ex.ids.length; t++) {
    if (t < ex.ids.length && ex.lossMask[t]) run.push(ex.ids[t]);
    else if (run.length) {
      spans.push(tok.decode(run));
      run = [];
    }
  }
  return spans;
}

const opts = { file: 'data/train.jsonl', maxSeqLen: 4096 };
const one = (line: unknown, format: 'auto' | 'chat' | 'prompt-completion' | 'text' = 'auto') =>
  parseJsonl(JSON.stringify(line), 'data/train.jsonl', format)[0];

describe('chat examples with the real Qwen tokenizer', () => {
  const messages = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'What is 2+2?' },
    { role: 'assistant', content: '4' },
    { role: 'user', content: 'And 3+3?' },
    { role: 'assistant', content: '<think>\n3+3 is 6.\n</think>\n\n6' },
  ];

  it('masks exactly the assistant turns and their <|im_end|>', () => {
    const ex = tokenizeRecord(one({ messages }), tok, opts);
    // Rendered by the Qwen3 template (checked in tokenizer.test.ts); derived here by hand.
    const before1 = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n';
    const before2 = `${before1}4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n`;
    const full = `${before2}<think>\n3+3 is 6.\n</think>\n\n6<|im_end|>\n`;
    expect(tok.decode(ex.ids)).toBe(full);
    expect(maskedSpans(ex)).toEqual(['4<|im_end|>', '<think>\n3+3 is 6.\n</think>\n\n6<|im_end|>']);

    // Positions, independently: span 1 starts after the tokens of `before1`, span 2 after `before2`.
    const s1 = tok.encode(before1).length;
    const s2 = tok.encode(before2).length;
    const expected = new Uint8Array(ex.ids.length);
    expected.fill(1, s1, s1 + 2); // "4", <|im_end|>
    expected.fill(1, s2, ex.ids.length - 1); // everything but the final "\n"
    expect([...ex.lossMask]).toEqual([...expected]);
    expect(ex.ids[s1 + 1]).toBe(IM_END);
    expect(ex.ids[ex.ids.length - 2]).toBe(IM_END);
    expect(tok.decodeToken(ex.ids[ex.ids.length - 1])).toBe('\n');

    // labels[t] = ids[t+1] exactly where t+1 is trained on
    for (let t = 0; t < ex.ids.length; t++) {
      const want = t + 1 < ex.ids.length && expected[t + 1] ? ex.ids[t + 1] : -1;
      expect(ex.labels[t], `label ${t}`).toBe(want);
    }
    expect(ex.labels[s1 - 1]).toBe(tok.encode('4')[0]); // "assistant\n" predicts "4"
    expect(ex.docStarts).toEqual([0]);
    console.log(`chat: ${ex.ids.length} tokens, ${ex.lossMask.reduce((a, b) => a + b, 0)} trained`);
  });

  it('handles a template whose generation prompt adds text (DeepSeek-R1 style "<think>\\n")', () => {
    const chatTemplate =
      "{% for m in messages %}{% if m.role == 'user' %}<｜User｜>{{ m.content }}{% elif m.role == 'assistant' %}<｜Assistant｜>{{ m.content }}<|im_end|>{% endif %}{% endfor %}" +
      "{% if add_generation_prompt %}<｜Assistant｜><think>\n{% endif %}";
    const chat = [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }, { role: 'user', content: 'Q' }, { role: 'assistant', content: '<think>\nhm\n</think>A' }];
    const ex = tokenizeRecord(one({ messages: chat }), tok, { ...opts, chatTemplate });
    // Turn 1 has no "<think>\n": it starts after "<｜Assistant｜>". Turn 2 starts after the whole prompt.
    expect(maskedSpans(ex)).toEqual(['Hello!<|im_end|>', 'hm\n</think>A<|im_end|>']);
  });

  it('refuses a template that emits no end token for assistant turns', () => {
    const chatTemplate = '{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}assistant: {% endif %}';
    expect(() => tokenizeRecord(one({ messages: messages.slice(1, 3) }), tok, { ...opts, chatTemplate })).toThrow(
      'data/train.jsonl:1: no end token (<|im_end|>) after assistant turn messages[1]',
    );
  });
});

describe('prompt-completion and text examples', () => {
  it('prompt-completion: completion + EOS trained, prompt masked', () => {
    const ex = tokenizeRecord(one({ prompt: 'Q: 2+2=', completion: ' 4' }), tok, opts);
    const p = tok.encode('Q: 2+2=');
    const c = tok.encode(' 4');
    expect([...ex.ids]).toEqual([...p, ...c, IM_END]);
    expect([...ex.lossMask]).toEqual([...p.map(() => 0), ...c.map(() => 1), 1]);
    expect([...ex.labels]).toEqual([...p.slice(1).map(() => -1), ...c, IM_END, -1]);
  });

  it('prompt-completion with chatTemplate: true is a user turn and an assistant turn of the template', () => {
    const rec = one({ prompt: 'Q: 2+2=', completion: ' 4' });
    const ex = tokenizeRecord(rec, tok, { ...opts, useChatTemplate: true });
    const chat = tokenizeRecord(one({ messages: [{ role: 'user', content: 'Q: 2+2=' }, { role: 'assistant', content: ' 4' }] }), tok, opts);
    expect([...ex.ids]).toEqual(tok.applyChatTemplate([{ role: 'user', content: 'Q: 2+2=' }, { role: 'assistant', content: ' 4' }]).ids);
    expect([...ex.labels]).toEqual([...chat.labels]);
    const spans = maskedSpans(ex); // one trained span: the assistant turn as this template renders it
    expect(spans).toEqual(maskedSpans(chat));
    expect(spans).toHaveLength(1);
    expect(spans[0].endsWith('4<|im_end|>')).toBe(true);
    // false keeps prompt-completion plain, and refuses chat records, naming the field
    expect([...tokenizeRecord(rec, tok, { ...opts, useChatTemplate: false }).ids]).toEqual([...tok.encode('Q: 2+2='), ...tok.encode(' 4'), IM_END]);
    expect(() => tokenizeRecord(one({ messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }] }), tok, { ...opts, useChatTemplate: false })).toThrow(/^data\/train\.jsonl:1: a chat record needs the chat template, which chatTemplate: false turns off/);
  });

  it('text: every token but the first is a target, EOS appended', () => {
    const ex = tokenizeRecord(one({ text: 'Hello world' }), tok, opts);
    expect([...ex.ids]).toEqual([9707, 1879, IM_END]);
    expect([...ex.lossMask]).toEqual([0, 1, 1]);
    expect([...ex.labels]).toEqual([1879, IM_END, -1]);
  });

  it('truncation right / left / error', () => {
    const text = 'one two three four five six seven eight nine ten eleven twelve';
    const all = tokenizeRecord(one({ text }), tok, opts);
    const right = tokenizeRecord(one({ text }), tok, { ...opts, maxSeqLen: 5, truncation: 'right' });
    const left = tokenizeRecord(one({ text }), tok, { ...opts, maxSeqLen: 5, truncation: 'left' });
    expect([...right.ids]).toEqual([...all.ids.subarray(0, 5)]);
    expect([...left.ids]).toEqual([...all.ids.subarray(all.ids.length - 5)]);
    expect(left.ids[4]).toBe(IM_END);
    expect([...left.lossMask]).toEqual([0, 1, 1, 1, 1]);
    expect([...right.labels]).toEqual([...all.ids.subarray(1, 5), -1]);
    expect(right.truncatedTokens).toBe(all.ids.length - 5);
    expect(() => tokenizeRecord(one({ text }), tok, { ...opts, maxSeqLen: 5, truncation: 'error' })).toThrow(
      `data/train.jsonl:1: example has ${all.ids.length} tokens, more than maxSeqLen 5 (truncation: 'error')`,
    );
  });
});

describe('teacher_topk', () => {
  const rec = (n: number) => ({
    prompt: 'Q: 2+2=',
    completion: ' yes',
    teacher_topk: Array.from({ length: n }, (_, j) => ({ ids: [100 + j, 200 + j], logprobs: [-0.1, -3] })),
  });

  it('row t holds the distribution that predicts trained token t+1', () => {
    expect(tok.encode(' yes')).toHaveLength(1); // so the trained tokens are " yes", <|im_end|>
    const ex = tokenizeRecord(one(rec(2)), tok, opts);
    const p = tok.encode('Q: 2+2=').length;
    const t = ex.teacher!;
    expect(t.k).toBe(2);
    expect([...t.ids.subarray((p - 1) * 2, (p + 1) * 2)]).toEqual([100, 200, 101, 201]);
    expect(t.logprobs[(p - 1) * 2]).toBeCloseTo(-0.1, 6);
    expect([...t.ids].filter((i) => i >= 0)).toHaveLength(4); // nothing else
    for (let r = 0; r < ex.ids.length; r++) expect(t.ids[r * 2] >= 0).toBe(ex.labels[r] >= 0);
  });

  it('count mismatch and ids beyond the vocabulary are errors naming the line', () => {
    expect(() => tokenizeRecord(one(rec(3)), tok, opts)).toThrow('data/train.jsonl:1: teacher_topk has 3 entries but the example has 2 trained tokens');
    const bad = rec(2);
    bad.teacher_topk[1].ids[0] = 999_999;
    expect(() => tokenizeRecord(one(bad), tok, opts)).toThrow("data/train.jsonl:1: teacher_topk[1].ids has id 999999, beyond the tokenizer's 151669 ids");
  });

  it('stays aligned through left truncation, packing and collation', () => {
    const ex = tokenizeRecord(one(rec(2)), tok, { ...opts, maxSeqLen: 3, truncation: 'left' });
    expect(ex.ids.length).toBe(3);
    // ids: [last prompt token, " yes", <|im_end|>]: rows 0 and 1 predict the two trained tokens
    expect([...ex.teacher!.ids]).toEqual([100, 200, 101, 201, -1, -1]);
    const [row] = packExamples([ex, ex], 6);
    const batch = collate([row], { padId: 0, seqLen: 8 });
    expect([...batch.teacher!.ids]).toEqual([100, 200, 101, 201, -1, -1, 100, 200, 101, 201, -1, -1, -1, -1, -1, -1]);
  });
});

describe('packing and batching', () => {
  const ex = (n: number, base: number): Example => {
    const ids = Int32Array.from({ length: n }, (_, i) => base + i);
    const lossMask = new Uint8Array(n).fill(1);
    lossMask[0] = 0;
    const labels = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? base + i + 1 : -1));
    return { ids, lossMask, labels, docStarts: [0], lines: [base] };
  };

  it('packs greedily in order with document starts; labels never cross a boundary', () => {
    const rows = packExamples([ex(5, 10), ex(4, 20), ex(6, 30), ex(3, 40)], 10);
    expect(rows.map((r) => [...r.ids])).toEqual([
      [10, 11, 12, 13, 14, 20, 21, 22, 23],
      [30, 31, 32, 33, 34, 35, 40, 41, 42],
    ]);
    expect(rows.map((r) => r.docStarts)).toEqual([[0, 5], [0, 6]]);
    expect(rows[0].lines).toEqual([10, 20]);
    expect(rows[0].labels[4]).toBe(-1); // last token of document 1 does not predict document 2
    expect(rows[0].lossMask[5]).toBe(0);
  });

  it('collates into [B, T] with padding, attention mask and per-document positions', () => {
    const rows = packExamples([ex(3, 10), ex(2, 20), ex(4, 30)], 5);
    const b = collate(rows, { padId: 7 });
    expect([b.size, b.seqLen]).toEqual([2, 5]);
    expect([...b.ids]).toEqual([10, 11, 12, 20, 21, 30, 31, 32, 33, 7]);
    expect([...b.labels]).toEqual([11, 12, -1, 21, -1, 31, 32, 33, -1, -1]);
    expect([...b.attentionMask]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 0]);
    expect([...b.positions]).toEqual([0, 1, 2, 0, 1, 0, 1, 2, 3, 0]);
    expect([...b.lossMask]).toEqual([0, 1, 1, 0, 1, 0, 1, 1, 1, 0]);
    expect(b.docStarts).toEqual([[0, 3], [0]]);
  });
});

describe('loadDataset', () => {
  const lines = [
    JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello!' }] }),
    '',
    JSON.stringify({ prompt: 'Q: 1+1=', completion: ' 2' }),
    JSON.stringify({ text: 'Plain text line.' }),
  ];

  it('reads, detects formats per line, tokenizes, packs and hashes', async () => {
    const src = new MapFileSource({ 'data/train.jsonl': lines.join('\r\n') + '\n' });
    const ds = await loadDataset(src, tok, { path: 'data/train.jsonl', format: 'auto', maxSeqLen: 64, packing: true });
    expect(ds.stats).toMatchObject({ lines: 3, examples: 3, rows: 1, truncated: 0, dropped: 0, formats: { chat: 1, 'prompt-completion': 1, text: 1 } });
    expect(ds.examples[0].lines).toEqual([1, 3, 4]);
    expect(ds.hash).toMatch(/^fnv1a64:[0-9a-f]{16}$/);
    expect(ds.hash).toBe(datasetHash(lines.join('\r\n') + '\n'));
    expect(datasetHash('x')).not.toBe(ds.hash);
    const unpacked = await loadDataset(src, tok, { path: 'data/train.jsonl', maxSeqLen: 64 });
    expect(unpacked.examples).toHaveLength(3);
    expect(unpacked.stats.lossTokens).toBe(ds.stats.lossTokens);
  });

  it('drops examples whose trained tokens were all cut off, and counts them', async () => {
    const src = new MapFileSource({ 'd.jsonl': JSON.stringify({ prompt: 'a long prompt with many words in it', completion: ' ok' }) });
    const ds = await loadDataset(src, tok, { path: 'd.jsonl', maxSeqLen: 3, truncation: 'right' });
    expect(ds.stats).toMatchObject({ lines: 1, examples: 0, dropped: 1, truncated: 1 });
  });

  const bad: [string, string, string][] = [
    ['invalid JSON', '{"text": "a"}\n{"text": ', 'data/train.jsonl:2: invalid JSON'],
    ['messages not an array', '\n'.repeat(16) + '{"messages": {"role": "user"}}', 'data/train.jsonl:17: expected "messages" to be an array'],
    ['bad role', '{"messages": [{"role": "bot", "content": "x"}]}', 'data/train.jsonl:1: expected messages[0].role to be one of system, user, assistant, tool, got "bot"'],
    ['content not a string', '{"messages": [{"role": "user", "content": 3}]}', 'data/train.jsonl:1: expected messages[0].content to be a string'],
    ['no assistant', '{"messages": [{"role": "user", "content": "x"}]}', 'data/train.jsonl:1: no "assistant" message to train on'],
    ['assistant first', '{"messages": [{"role": "assistant", "content": "x"}]}', 'data/train.jsonl:1: messages[0] is an assistant turn'],
    ['unknown shape', '{"input": "x", "output": "y"}', 'data/train.jsonl:1: cannot tell the format: expected "messages", "prompt" + "completion" or "text" (keys: "input", "output")'],
    ['prompt without completion', '{"prompt": "x"}', 'data/train.jsonl:1: expected "completion" to be a string'],
    ['not an object', '[1, 2]', 'data/train.jsonl:1: expected a JSON object'],
    ['teacher lengths', '{"text": "x", "teacher_topk": [{"ids": [1, 2], "logprobs": [-1]}]}', 'data/train.jsonl:1: teacher_topk[0] has 2 ids and 1 logprobs'],
    ['teacher logprob > 0', '{"text": "x", "teacher_topk": [{"ids": [1], "logprobs": [0.5]}]}', 'data/train.jsonl:1: expected teacher_topk[0].logprobs to be numbers ≤ 0, got 0.5'],
    ['teacher mass > 1', '{"text": "x", "teacher_topk": [{"ids": [1, 2], "logprobs": [-0.1, -0.2]}]}', 'data/train.jsonl:1: teacher_topk[0] probabilities sum to 1.7236 > 1'],
    ['teacher on some lines only', '{"text": "x", "teacher_topk": [{"ids": [1], "logprobs": [0]}]}\n{"text": "y"}', 'data/train.jsonl:2: has no "teacher_topk" but line 1 does'],
    ['empty file', '\n\n', 'data/train.jsonl: no examples (the file is empty)'],
  ];
  for (const [what, content, message] of bad) {
    it(`error: ${what}`, async () => {
      const src = new MapFileSource({ 'data/train.jsonl': content });
      const err = await loadDataset(src, tok, { path: 'data/train.jsonl', maxSeqLen: 64 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FormatError);
      expect((err as Error).message).toContain(message);
    });
  }

  it('error: explicit format that does not match, invalid UTF-8, bad maxSeqLen', async () => {
    expect(() => parseJsonl('{"text": "x"}', 'd.jsonl', 'chat')).toThrow('d.jsonl:1: expected "messages" to be an array');
    const src = new MapFileSource({ 'd.jsonl': new Uint8Array([0x7b, 0xff, 0x7d]) });
    await expect(loadDataset(src, tok, { path: 'd.jsonl', maxSeqLen: 64 })).rejects.toThrow('d.jsonl: not valid UTF-8');
    await expect(loadDataset(src, tok, { path: 'd.jsonl', maxSeqLen: 1 })).rejects.toThrow('d.jsonl: maxSeqLen must be an integer ≥ 2, got 1');
  });
});

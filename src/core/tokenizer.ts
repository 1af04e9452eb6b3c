/**
 * Tokenizers from a Hugging Face folder (tokenizer.json, tokenizer_config.json, optional
 * generation_config.json), run by transformers.js and wrapped in our small `Tokenizer` interface.
 * Nothing is fetched: the files come from a FileSource and transformers.js is told to stay local.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import { FormatError, TokenizerMismatchError } from './errors.ts';
import { type FileSource, joinPath, readJson } from './files.ts';
import { Fnv1a64 } from './hash.ts';
import type { ModelSpec } from './model-spec.ts';

export interface ChatMessage {
  role: string;
  content: string;
  /** Extra fields some templates read (e.g. `reasoning_content`). */
  [key: string]: unknown;
}

export interface ChatOptions {
  /** End with the assistant header so the model writes the reply. */
  addGenerationPrompt?: boolean;
  /** A Jinja template, or the name of one when the tokenizer has several; default: the tokenizer's. */
  chatTemplate?: string;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3. */
  templateVars?: Record<string, unknown>;
}

export interface Tokenizer {
  /** Number of ids including added tokens (max id + 1); the logit width losses use. */
  readonly size: number;
  /** Ids that end a turn or a sequence (tokenizer_config eos + generation_config eos). */
  readonly eosIds: readonly number[];
  readonly padId: number;
  readonly bosId: number | null;
  readonly hasChatTemplate: boolean;
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  decode(ids: ArrayLike<number>, opts?: { skipSpecial?: boolean }): string;
  /** The text of one token (byte-level pieces of a multi-byte character decode to U+FFFD). */
  decodeToken(id: number): string;
  tokenToId(token: string): number | undefined;
  /** The vocabulary entry of an id (e.g. `Ġthe`), not its decoded text. */
  idToToken(id: number): string | undefined;
  renderChat(messages: readonly ChatMessage[], opts?: ChatOptions): string;
  applyChatTemplate(messages: readonly ChatMessage[], opts?: ChatOptions): { text: string; ids: number[] };
  /** Stable hash of model type, vocabulary, merges and added tokens: equal iff they tokenize alike. */
  fingerprint(): string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

let transformersModule: Promise<typeof import('@huggingface/transformers')> | null = null;

/** transformers.js, imported on first use (it is large) and told never to reach for a hub. */
function transformers(): Promise<typeof import('@huggingface/transformers')> {
  transformersModule ??= import('@huggingface/transformers').then((m) => {
    m.env.allowRemoteModels = false;
    return m;
  });
  return transformersModule;
}

export interface TokenizerFiles {
  tokenizerJson: unknown;
  tokenizerConfig?: unknown;
  generationConfig?: unknown;
  /** Folder or file named in errors. */
  where?: string;
}

/** Loads `DIR/tokenizer.json` (+ tokenizer_config.json, generation_config.json when present). */
export async function loadTokenizer(src: FileSource, dir: string): Promise<Tokenizer> {
  const optional = async (name: string) => ((await src.exists(joinPath(dir, name))) ? readJson(src, joinPath(dir, name)) : undefined);
  return tokenizerFromJson({
    tokenizerJson: await readJson(src, joinPath(dir, 'tokenizer.json')),
    tokenizerConfig: await optional('tokenizer_config.json'),
    generationConfig: await optional('generation_config.json'),
    where: joinPath(dir, 'tokenizer.json'),
  });
}

export async function tokenizerFromJson(files: TokenizerFiles): Promise<Tokenizer> {
  const where = files.where ?? 'tokenizer.json';
  const json = files.tokenizerJson;
  if (!isRecord(json) || !isRecord(json.model)) throw new FormatError({ file: where, field: 'model' }, 'has no "model" object');
  const config = files.tokenizerConfig ?? {};
  const configFile = where.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  if (!isRecord(config)) throw new FormatError({ file: configFile }, 'must be a JSON object');
  const { PreTrainedTokenizer } = await transformers();
  let hf: PreTrainedTokenizer;
  try {
    hf = new PreTrainedTokenizer(json, config);
  } catch (e) {
    throw new FormatError({ file: where }, `transformers.js cannot build this tokenizer: ${(e as Error).message}`);
  }
  return new HfTokenizer(hf, json, files.generationConfig, configFile);
}

class HfTokenizer implements Tokenizer {
  readonly size: number;
  readonly eosIds: readonly number[];
  readonly padId: number;
  readonly bosId: number | null;
  readonly hasChatTemplate: boolean;
  private readonly vocab: Map<string, number>;
  private idTokens: string[] | null = null;
  private hash: string | null = null;

  constructor(
    private readonly hf: PreTrainedTokenizer,
    private readonly json: Record<string, unknown>,
    generationConfig: unknown,
    private readonly configFile: string,
  ) {
    this.vocab = hf.get_vocab();
    let max = -1;
    for (const id of this.vocab.values()) if (id > max) max = id;
    this.size = max + 1;
    const eos = new Set<number>();
    if (typeof hf.eos_token_id === 'number') eos.add(hf.eos_token_id);
    const genEos = isRecord(generationConfig) ? generationConfig.eos_token_id : undefined;
    for (const id of Array.isArray(genEos) ? genEos : [genEos]) if (typeof id === 'number') eos.add(id);
    this.eosIds = [...eos];
    this.bosId = typeof hf.bos_token_id === 'number' ? hf.bos_token_id : null;
    // Padding positions are masked out, so any id works; HF falls back to eos the same way.
    this.padId = typeof hf.pad_token_id === 'number' ? hf.pad_token_id : (this.eosIds[0] ?? 0);
    this.hasChatTemplate = hf.chat_template !== null && hf.chat_template !== undefined;
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.hf.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false });
  }

  decode(ids: ArrayLike<number>, opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.hf.decode(Array.from(ids), { skip_special_tokens: opts.skipSpecial ?? false });
  }

  decodeToken(id: number): string {
    return this.hf.decode([id], { skip_special_tokens: false });
  }

  tokenToId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    if (!this.idTokens) {
      this.idTokens = new Array<string>(this.size);
      for (const [token, i] of this.vocab) this.idTokens[i] = token;
    }
    return this.idTokens[id];
  }

  renderChat(messages: readonly ChatMessage[], opts: ChatOptions = {}): string {
    if (!opts.chatTemplate && !this.hasChatTemplate) {
      throw new FormatError(
        { file: this.configFile, field: 'chat_template' },
        'has no "chat_template"; pass one (chatTemplate) or use the prompt-completion or text format',
      );
    }
    const text = this.hf.apply_chat_template(messages as ChatMessage[] as Parameters<PreTrainedTokenizer['apply_chat_template']>[0], {
      tokenize: false,
      add_generation_prompt: opts.addGenerationPrompt ?? false,
      chat_template: opts.chatTemplate ?? null,
      ...opts.templateVars,
    });
    return text as string;
  }

  applyChatTemplate(messages: readonly ChatMessage[], opts: ChatOptions = {}): { text: string; ids: number[] } {
    const text = this.renderChat(messages, opts);
    // The template writes BOS etc. itself, so no special tokens are added on top.
    return { text, ids: this.encode(text, { addSpecialTokens: false }) };
  }

  fingerprint(): string {
    if (this.hash) return this.hash;
    const h = new Fnv1a64();
    const model = this.json.model as Record<string, unknown>;
    h.updateString(`type=${String(model.type)}\n`);
    const parts: string[] = [];
    for (let id = 0; id < this.size; id++) parts.push(this.idToToken(id) ?? '\u0001');
    h.updateString(parts.join('\u0000'));
    h.updateString('\nmerges\n');
    const merges = Array.isArray(model.merges) ? model.merges : [];
    // Merges are "a b" strings in older files and ["a", "b"] pairs in newer ones: same meaning.
    h.updateString(merges.map((m: unknown) => (Array.isArray(m) ? m.join(' ') : String(m))).join('\n'));
    h.updateString('\nadded\n');
    const added = Array.isArray(this.json.added_tokens) ? (this.json.added_tokens as unknown[]) : [];
    const rows = added.filter(isRecord).map((t) => `${String(t.id)}\t${String(t.content)}\t${t.special === true}`);
    h.updateString(rows.sort().join('\n'));
    this.hash = h.hex();
    return this.hash;
  }
}

/**
 * A model's `vocab_size` may exceed the tokenizer (Qwen pads 151,665 tokens to 151,936 rows); padded
 * rows are ignored and losses use `logitVocab = tokenizer.size`. An id ≥ vocab_size has no row: error.
 */
export function checkVocabCompatibility(tok: Tokenizer, spec: ModelSpec, file: string): { logitVocab: number; paddedRows: number } {
  if (tok.size > spec.vocabSize) {
    throw new FormatError(
      { file, field: 'vocab_size' },
      `the tokenizer has ids up to ${tok.size - 1} but "vocab_size" is ${spec.vocabSize}: ids ≥ ${spec.vocabSize} would have no embedding row`,
    );
  }
  return { logitVocab: tok.size, paddedRows: spec.vocabSize - tok.size };
}

/**
 * Logit distillation compares distributions id by id, so teacher and student must tokenize alike.
 * Same fingerprint → fine (config vocab_size may still differ by padding). Otherwise throws, naming
 * a few ids that differ.
 */
export function checkTeacherStudentTokenizers(teacher: Tokenizer, student: Tokenizer): void {
  const a = teacher.fingerprint();
  const b = student.fingerprint();
  if (a === b) return;
  const diffs: string[] = [];
  let count = 0;
  for (let id = 0; id < Math.max(teacher.size, student.size); id++) {
    const t = teacher.idToToken(id);
    const s = student.idToToken(id);
    if (t === s) continue;
    count++;
    if (diffs.length < 3) diffs.push(`id ${id}: ${JSON.stringify(t ?? null)} vs ${JSON.stringify(s ?? null)}`);
  }
  const what =
    count === 0
      ? 'same vocabulary but different merges or added-token flags'
      : `${count} ${count === 1 ? 'id differs' : 'ids differ'} (teacher ${teacher.size} ids, student ${student.size}), e.g. ${diffs.join('; ')}`;
  throw new TokenizerMismatchError(
    `teacher and student tokenizers differ (fingerprints ${a} ≠ ${b}; ${what}): logit distillation is refused ` +
      'because token ids would not mean the same thing. Use sequence-level KD (loss.onPolicy with source \'teacher\', or SFT on ' +
      "teacher outputs) or ULD (loss.uld with divergence 'none'), which compare the two distributions without ids",
  );
}

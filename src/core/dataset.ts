/**
 * JSONL datasets → token examples → packed rows → [B, T] batches.
 *
 * One JSON object per line, in one of three shapes (`format: 'auto'` decides per line):
 *   chat               {"messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}]}
 *   prompt-completion  {"prompt": "…", "completion": "…"}
 *   text               {"text": "…"}
 * Any line may carry the teacher's sparse targets for offline logit distillation (DESIGN.md):
 *   "teacher_topk": [{"ids": [int × k], "logprobs": [float × k]}, …]
 * with exactly one entry per trained token (lossMask = 1) in order, end tokens included, taken at
 * T = 1 from the distribution that predicted that token. Blank lines are skipped; errors name
 * `file:line`.
 *
 * What is trained on (lossMask = 1): chat — each assistant turn from where the generation prompt
 * ends up to and including its end token (<|im_end|> for Qwen); prompt-completion — the completion and
 * the appended EOS; text — every token. The first token of a sequence is never a target (nothing
 * predicts it). `labels[t] = ids[t + 1]` where token t + 1 is trained on, else −1.
 */
import { FormatError } from './errors.ts';
import { type FileSource } from './files.ts';
import { fnv1a64 } from './hash.ts';
import type { ChatMessage, ChatOptions, Tokenizer } from './tokenizer.ts';

export type DataFormat = 'auto' | 'chat' | 'prompt-completion' | 'text';
export type Truncation = 'left' | 'right' | 'error';

/** Field names match the `DataConfig` schema. */
export interface DataOptions {
  path: string;
  format?: DataFormat;
  /** A Jinja chat template (or a template name) replacing the tokenizer's. */
  chatTemplate?: string;
  /**
   * `DataConfig.chatTemplate`: true renders prompt-completion records as a user turn and an
   * assistant turn through the chat template (when there is one); false refuses chat records, which
   * only a template can render. Absent: prompt-completion records are plain text, chat records use
   * the template.
   */
  useChatTemplate?: boolean;
  maxSeqLen: number;
  /** What to do with examples longer than maxSeqLen: keep the start ('right' cuts the end), keep the end, or fail. */
  truncation?: Truncation;
  /** Concatenate short examples into maxSeqLen rows (with document boundaries). */
  packing?: boolean;
}

/** The teacher's top-k for one trained token, at T = 1. */
export interface TeacherTopK {
  ids: number[];
  logprobs: number[];
}

interface RecordBase {
  line: number;
  teacherTopk?: TeacherTopK[];
}
export type DataRecord =
  | (RecordBase & { format: 'chat'; messages: ChatMessage[] })
  | (RecordBase & { format: 'prompt-completion'; prompt: string; completion: string })
  | (RecordBase & { format: 'text'; text: string });

/** Sparse teacher targets by position: row t is the distribution over token t + 1 (where labels[t] ≠ −1). */
export interface SparseTargets {
  k: number;
  /** [T, k]; −1 marks an empty slot. */
  ids: Int32Array;
  /** [T, k]; −Infinity marks an empty slot. */
  logprobs: Float32Array;
}

/** One example, or a packed row of several (documents). */
export interface Example {
  ids: Int32Array; // [T]
  lossMask: Uint8Array; // [T] 1 where the token is trained on
  labels: Int32Array; // [T] next-token target or −1
  /** Offsets where documents start; [0] for a single example. Positions restart there. */
  docStarts: number[];
  /** Source line of each document. */
  lines: number[];
  teacher?: SparseTargets;
}

export interface Batch {
  size: number; // B
  seqLen: number; // T
  ids: Int32Array; // [B, T] padded with padId
  labels: Int32Array; // [B, T] −1 on padding
  lossMask: Uint8Array; // [B, T]
  attentionMask: Uint8Array; // [B, T] 1 on real tokens
  positions: Int32Array; // [B, T] restart at each document start; 0 on padding
  docStarts: number[][];
  lines: number[][];
  teacher?: SparseTargets & { ids: Int32Array; logprobs: Float32Array }; // [B, T, k]
}

const ROLES = ['system', 'user', 'assistant', 'tool'];

// ---------------------------------------------------------------------------------------------
// parsing

interface Where {
  file: string;
  line: number;
}

function fail(where: Where, detail: string, field?: string): never {
  throw new FormatError({ ...where, field }, detail);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(obj: Record<string, unknown>, key: string, where: Where): string {
  if (typeof obj[key] !== 'string') fail(where, `expected "${key}" to be a string`, key);
  return obj[key] as string;
}

function detect(obj: Record<string, unknown>, where: Where): Exclude<DataFormat, 'auto'> {
  if ('messages' in obj) return 'chat';
  if ('prompt' in obj || 'completion' in obj) return 'prompt-completion';
  if ('text' in obj) return 'text';
  const keys = Object.keys(obj).map((k) => JSON.stringify(k)).join(', ') || 'none';
  return fail(where, `cannot tell the format: expected "messages", "prompt" + "completion" or "text" (keys: ${keys})`);
}

function parseMessages(value: unknown, where: Where): ChatMessage[] {
  if (!Array.isArray(value) || value.length === 0) fail(where, 'expected "messages" to be an array', 'messages');
  const messages = value.map((m, i): ChatMessage => {
    const field = `messages[${i}]`;
    if (!isRecord(m)) fail(where, `expected ${field} to be an object with "role" and "content"`, field);
    if (typeof m.role !== 'string' || !ROLES.includes(m.role)) {
      fail(where, `expected ${field}.role to be one of ${ROLES.join(', ')}, got ${JSON.stringify(m.role)}`, `${field}.role`);
    }
    if (typeof m.content !== 'string') fail(where, `expected ${field}.content to be a string`, `${field}.content`);
    return m as ChatMessage;
  });
  const first = messages.findIndex((m) => m.role === 'assistant');
  if (first < 0) fail(where, 'no "assistant" message to train on', 'messages');
  if (first === 0) fail(where, 'messages[0] is an assistant turn; it needs a user or system message before it', 'messages[0].role');
  return messages;
}

function parseTeacher(value: unknown, where: Where): TeacherTopK[] {
  if (!Array.isArray(value)) fail(where, 'expected "teacher_topk" to be an array of {ids, logprobs}', 'teacher_topk');
  return value.map((entry, i): TeacherTopK => {
    const field = `teacher_topk[${i}]`;
    if (!isRecord(entry) || !Array.isArray(entry.ids) || !Array.isArray(entry.logprobs)) {
      fail(where, `expected ${field} to be {"ids": [...], "logprobs": [...]}`, field);
    }
    const { ids, logprobs } = entry as { ids: unknown[]; logprobs: unknown[] };
    if (ids.length === 0 || ids.length !== logprobs.length) {
      fail(where, `${field} has ${ids.length} ids and ${logprobs.length} logprobs; expected the same non-zero count`, field);
    }
    if (!ids.every((id) => typeof id === 'number' && Number.isSafeInteger(id) && id >= 0)) {
      fail(where, `expected ${field}.ids to be non-negative integer token ids`, `${field}.ids`);
    }
    let mass = 0;
    for (const lp of logprobs) {
      if (typeof lp !== 'number' || !(lp <= 1e-6)) fail(where, `expected ${field}.logprobs to be numbers ≤ 0, got ${JSON.stringify(lp)}`, `${field}.logprobs`);
      mass += Math.exp(lp);
    }
    if (mass > 1.001) fail(where, `${field} probabilities sum to ${mass.toFixed(4)} > 1`, `${field}.logprobs`);
    return { ids: ids as number[], logprobs: logprobs as number[] };
  });
}

/** Validates one parsed JSON line. */
export function parseRecord(value: unknown, where: Where, format: DataFormat = 'auto'): DataRecord {
  if (!isRecord(value)) fail(where, 'expected a JSON object');
  const kind = format === 'auto' ? detect(value, where) : format;
  const teacherTopk = value.teacher_topk === undefined ? undefined : parseTeacher(value.teacher_topk, where);
  const base = { line: where.line, ...(teacherTopk ? { teacherTopk } : {}) };
  switch (kind) {
    case 'chat':
      return { ...base, format: 'chat', messages: parseMessages(value.messages, where) };
    case 'prompt-completion':
      return { ...base, format: 'prompt-completion', prompt: str(value, 'prompt', where), completion: str(value, 'completion', where) };
    case 'text':
      return { ...base, format: 'text', text: str(value, 'text', where) };
  }
}

/** Parses JSONL text; line numbers are 1-based and count blank lines. */
export function parseJsonl(text: string, file: string, format: DataFormat = 'auto'): DataRecord[] {
  const out: DataRecord[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '') continue;
    const where = { file, line: i + 1 };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      fail(where, `invalid JSON: ${(e as Error).message}`);
    }
    out.push(parseRecord(value, where, format));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// tokenizing

export interface TokenizeOptions {
  file: string;
  maxSeqLen: number;
  truncation?: Truncation;
  chatTemplate?: string;
  /** See DataOptions.useChatTemplate. */
  useChatTemplate?: boolean;
  /** Ids that end an assistant turn; default the tokenizer's eosIds. */
  endIds?: readonly number[];
}

function commonPrefix<T>(a: ArrayLike<T>, b: ArrayLike<T>): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/**
 * Chat: render the whole conversation once; for each assistant turn i, the turn starts where the
 * conversation cut before it, with the generation prompt, ends; it runs to the first end token.
 */
function tokenizeChat(messages: ChatMessage[], tok: Tokenizer, where: Where, chat: ChatOptions, endIds: readonly number[]) {
  const full = tok.renderChat(messages, chat);
  const ids = tok.encode(full);
  const mask = new Uint8Array(ids.length);
  const ends = new Set(endIds);
  const endNames = endIds.map((id) => tok.decodeToken(id)).join(', ') || 'none';
  for (let i = 0; i < messages.length; i++) {
    if (messages[i].role !== 'assistant') continue;
    const head = messages.slice(0, i);
    const withPrompt = tok.renderChat(head, { ...chat, addGenerationPrompt: true });
    let textStart: number;
    if (full.startsWith(withPrompt)) {
      textStart = withPrompt.length;
    } else {
      // Some templates put more in the generation prompt than in a rendered turn (DeepSeek-R1's
      // adds "<think>\n"): take the conversation cut without it, then skip what the two share.
      const bare = tok.renderChat(head, { ...chat, addGenerationPrompt: false });
      if (!full.startsWith(bare)) {
        fail(where, `the chat template renders messages before messages[${i}] differently inside the whole conversation; cannot find where the assistant turn starts`, `messages[${i}]`);
      }
      textStart = bare.length + commonPrefix(withPrompt.slice(bare.length), full.slice(bare.length));
    }
    // BPE may merge across the cut (e.g. "\n" + "\n…"): the turn starts at the first differing token.
    const start = commonPrefix(ids, tok.encode(full.slice(0, textStart)));
    let end = start;
    while (end < ids.length && !ends.has(ids[end])) end++;
    if (end === ids.length) {
      fail(where, `no end token (${endNames}) after assistant turn messages[${i}]; pass the turn's end ids (endIds)`, `messages[${i}]`);
    }
    mask.fill(1, start, end + 1);
  }
  return { ids, mask };
}

function appendEnd(ids: number[], endIds: readonly number[]): number[] {
  if (endIds.length === 0 || endIds.includes(ids[ids.length - 1])) return ids;
  return [...ids, endIds[0]];
}

function labelsFor(ids: Int32Array, mask: Uint8Array): Int32Array {
  const labels = new Int32Array(ids.length).fill(-1);
  for (let t = 0; t + 1 < ids.length; t++) if (mask[t + 1]) labels[t] = ids[t + 1];
  return labels;
}

/** Places the j-th entry on the position that predicts the j-th trained token. */
function teacherRows(topk: TeacherTopK[], ids: Int32Array, mask: Uint8Array, vocab: number, where: Where): SparseTargets {
  const positions: number[] = [];
  for (let t = 1; t < mask.length; t++) if (mask[t]) positions.push(t - 1);
  if (topk.length !== positions.length) {
    fail(where, `teacher_topk has ${topk.length} entries but the example has ${positions.length} trained tokens`, 'teacher_topk');
  }
  const k = Math.max(...topk.map((e) => e.ids.length));
  const out = { k, ids: new Int32Array(ids.length * k).fill(-1), logprobs: new Float32Array(ids.length * k).fill(-Infinity) };
  topk.forEach((entry, j) => {
    const row = positions[j] * k;
    entry.ids.forEach((id, c) => {
      if (id >= vocab) fail(where, `teacher_topk[${j}].ids has id ${id}, beyond the tokenizer's ${vocab} ids`, `teacher_topk[${j}].ids`);
      out.ids[row + c] = id;
      out.logprobs[row + c] = entry.logprobs[c];
    });
  });
  return out;
}

export interface TokenizedExample extends Example {
  /** Tokens cut by truncation (0 when it fit). */
  truncatedTokens: number;
}

/** Tokenizes one record into an example of at most maxSeqLen tokens. */
export function tokenizeRecord(rec: DataRecord, tok: Tokenizer, opts: TokenizeOptions): TokenizedExample {
  const where = { file: opts.file, line: rec.line };
  const endIds = opts.endIds ?? tok.eosIds;
  let ids: number[];
  let mask: Uint8Array;
  const templated = opts.useChatTemplate === true && (tok.hasChatTemplate || opts.chatTemplate !== undefined);
  if (rec.format === 'chat') {
    if (opts.useChatTemplate === false)
      fail(where, 'a chat record needs the chat template, which chatTemplate: false turns off (use prompt-completion or text records)', 'messages');
    ({ ids, mask } = tokenizeChat(rec.messages, tok, where, { chatTemplate: opts.chatTemplate }, endIds));
  } else if (rec.format === 'prompt-completion' && templated) {
    const turns: ChatMessage[] = [{ role: 'user', content: rec.prompt }, { role: 'assistant', content: rec.completion }];
    ({ ids, mask } = tokenizeChat(turns, tok, where, { chatTemplate: opts.chatTemplate }, endIds));
  } else if (rec.format === 'prompt-completion') {
    const prompt = tok.encode(rec.prompt, { addSpecialTokens: true });
    const completion = appendEnd(tok.encode(rec.completion), endIds);
    ids = [...prompt, ...completion];
    mask = new Uint8Array(ids.length).fill(1, prompt.length);
  } else {
    ids = appendEnd(tok.encode(rec.text, { addSpecialTokens: true }), endIds);
    mask = new Uint8Array(ids.length).fill(1);
  }
  if (mask.length > 0) mask[0] = 0; // nothing predicts the first token
  let idArray = Int32Array.from(ids);
  let teacher = rec.teacherTopk ? teacherRows(rec.teacherTopk, idArray, mask, tok.size, where) : undefined;

  const n = idArray.length;
  const max = opts.maxSeqLen;
  let from = 0;
  let to = n;
  if (n > max) {
    const mode = opts.truncation ?? 'right';
    if (mode === 'error') fail(where, `example has ${n} tokens, more than maxSeqLen ${max} (truncation: 'error')`);
    [from, to] = mode === 'right' ? [0, max] : [n - max, n];
  }
  idArray = idArray.subarray(from, to).slice();
  mask = mask.slice(from, to);
  mask[0] = 0;
  const labels = labelsFor(idArray, mask);
  if (teacher) {
    const { k } = teacher;
    teacher = { k, ids: teacher.ids.slice(from * k, to * k), logprobs: teacher.logprobs.slice(from * k, to * k) };
    // A row whose token was cut off has no label any more; empty it too.
    for (let t = 0; t < labels.length; t++) {
      if (labels[t] < 0) {
        teacher.ids.fill(-1, t * k, (t + 1) * k);
        teacher.logprobs.fill(-Infinity, t * k, (t + 1) * k);
      }
    }
  }
  return { ids: idArray, lossMask: mask, labels, docStarts: [0], lines: [rec.line], teacher, truncatedTokens: n - (to - from) };
}

// ---------------------------------------------------------------------------------------------
// packing and batching

function concatTeacher(parts: Example[], total: number): SparseTargets | undefined {
  if (!parts.some((p) => p.teacher)) return undefined;
  const k = Math.max(...parts.map((p) => p.teacher?.k ?? 0));
  const ids = new Int32Array(total * k).fill(-1);
  const logprobs = new Float32Array(total * k).fill(-Infinity);
  let at = 0;
  for (const p of parts) {
    const t = p.teacher;
    for (let r = 0; t && r < p.ids.length; r++) {
      ids.set(t.ids.subarray(r * t.k, (r + 1) * t.k), (at + r) * k);
      logprobs.set(t.logprobs.subarray(r * t.k, (r + 1) * t.k), (at + r) * k);
    }
    at += p.ids.length;
  }
  return { k, ids, logprobs };
}

function concat(parts: Example[]): Example {
  const total = parts.reduce((s, p) => s + p.ids.length, 0);
  const out: Example = { ids: new Int32Array(total), lossMask: new Uint8Array(total), labels: new Int32Array(total), docStarts: [], lines: [] };
  let at = 0;
  for (const p of parts) {
    out.ids.set(p.ids, at);
    out.lossMask.set(p.lossMask, at);
    out.labels.set(p.labels, at); // each document's last label is −1: no target crosses a boundary
    out.docStarts.push(...p.docStarts.map((d) => d + at));
    out.lines.push(...p.lines);
    at += p.ids.length;
  }
  const teacher = concatTeacher(parts, total);
  if (teacher) out.teacher = teacher;
  return out;
}

/** Greedy in-order packing: append examples to a row while they fit in maxSeqLen. */
export function packExamples(examples: readonly Example[], maxSeqLen: number): Example[] {
  const rows: Example[] = [];
  let current: Example[] = [];
  let length = 0;
  for (const ex of examples) {
    if (ex.ids.length > maxSeqLen) throw new Error(`packExamples: an example of ${ex.ids.length} tokens exceeds maxSeqLen ${maxSeqLen}; truncate first`);
    if (length + ex.ids.length > maxSeqLen && current.length > 0) {
      rows.push(concat(current));
      current = [];
      length = 0;
    }
    current.push(ex);
    length += ex.ids.length;
  }
  if (current.length > 0) rows.push(concat(current));
  return rows;
}

/** Pads examples on the right into one [B, T] batch (T = seqLen or the longest example). */
export function collate(examples: readonly Example[], opts: { padId: number; seqLen?: number }): Batch {
  const B = examples.length;
  const T = opts.seqLen ?? Math.max(0, ...examples.map((e) => e.ids.length));
  const withTeacher = examples.filter((e) => e.teacher).length;
  if (withTeacher !== 0 && withTeacher !== B) {
    throw new Error(`collate: ${withTeacher} of ${B} examples carry teacher_topk; a batch needs all or none`);
  }
  const batch: Batch = {
    size: B,
    seqLen: T,
    ids: new Int32Array(B * T).fill(opts.padId),
    labels: new Int32Array(B * T).fill(-1),
    lossMask: new Uint8Array(B * T),
    attentionMask: new Uint8Array(B * T),
    positions: new Int32Array(B * T),
    docStarts: examples.map((e) => e.docStarts),
    lines: examples.map((e) => e.lines),
  };
  const k = withTeacher ? Math.max(...examples.map((e) => e.teacher!.k)) : 0;
  if (k) batch.teacher = { k, ids: new Int32Array(B * T * k).fill(-1), logprobs: new Float32Array(B * T * k).fill(-Infinity) };
  examples.forEach((e, b) => {
    const n = e.ids.length;
    if (n > T) throw new Error(`collate: example ${b} has ${n} tokens, more than seqLen ${T}`);
    const row = b * T;
    batch.ids.set(e.ids, row);
    batch.labels.set(e.labels, row);
    batch.lossMask.set(e.lossMask, row);
    batch.attentionMask.fill(1, row, row + n);
    for (let d = 0; d < e.docStarts.length; d++) {
      const end = d + 1 < e.docStarts.length ? e.docStarts[d + 1] : n;
      for (let t = e.docStarts[d]; t < end; t++) batch.positions[row + t] = t - e.docStarts[d];
    }
    const src = e.teacher;
    for (let t = 0; src && batch.teacher && t < n; t++) {
      batch.teacher.ids.set(src.ids.subarray(t * src.k, (t + 1) * src.k), (row + t) * k);
      batch.teacher.logprobs.set(src.logprobs.subarray(t * src.k, (t + 1) * src.k), (row + t) * k);
    }
  });
  return batch;
}

/** Consecutive batches of `batchSize` (the last one may be smaller). */
export function* batchesOf(examples: readonly Example[], batchSize: number, opts: { padId: number; seqLen?: number }): Generator<Batch> {
  for (let i = 0; i < examples.length; i += batchSize) yield collate(examples.slice(i, i + batchSize), opts);
}

// ---------------------------------------------------------------------------------------------
// whole files

/** Stable content hash of a dataset file, for run manifests. */
export function datasetHash(bytes: Uint8Array | string): string {
  return `fnv1a64:${fnv1a64(bytes)}`;
}

export interface DatasetStats {
  lines: number;
  examples: number;
  rows: number;
  tokens: number;
  lossTokens: number;
  truncated: number;
  /** Examples left with no trained token after truncation, hence dropped. */
  dropped: number;
  formats: Record<Exclude<DataFormat, 'auto'>, number>;
}

export interface Dataset {
  file: string;
  hash: string;
  /** Packed rows when `packing`, else one example per line. */
  examples: Example[];
  stats: DatasetStats;
}

/** Reads, validates, tokenizes, truncates and (optionally) packs a JSONL file. */
export async function loadDataset(src: FileSource, tok: Tokenizer, opts: DataOptions): Promise<Dataset> {
  const file = opts.path;
  if (!Number.isSafeInteger(opts.maxSeqLen) || opts.maxSeqLen < 2) {
    throw new FormatError({ file, field: 'maxSeqLen' }, `maxSeqLen must be an integer ≥ 2, got ${opts.maxSeqLen}`);
  }
  const bytes = await src.readBytes(file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new FormatError({ file }, 'not valid UTF-8');
  }
  const records = parseJsonl(text, file, opts.format ?? 'auto');
  if (records.length === 0) throw new FormatError({ file }, 'no examples (the file is empty)');
  const withTeacher = records.filter((r) => r.teacherTopk);
  if (withTeacher.length !== 0 && withTeacher.length !== records.length) {
    const odd = records.find((r) => !r.teacherTopk)!;
    throw new FormatError({ file, line: odd.line, field: 'teacher_topk' }, `has no "teacher_topk" but line ${withTeacher[0].line} does; all lines or none must carry it`);
  }

  const stats: DatasetStats = {
    lines: records.length,
    examples: 0,
    rows: 0,
    tokens: 0,
    lossTokens: 0,
    truncated: 0,
    dropped: 0,
    formats: { chat: 0, 'prompt-completion': 0, text: 0 },
  };
  const examples: Example[] = [];
  for (const rec of records) {
    stats.formats[rec.format]++;
    const ex = tokenizeRecord(rec, tok, {
      file, maxSeqLen: opts.maxSeqLen, truncation: opts.truncation, chatTemplate: opts.chatTemplate, useChatTemplate: opts.useChatTemplate,
    });
    if (ex.truncatedTokens > 0) stats.truncated++;
    const trained = ex.labels.reduce((s, l) => s + (l >= 0 ? 1 : 0), 0);
    if (trained === 0) {
      stats.dropped++;
      continue;
    }
    const { truncatedTokens: _, ...plain } = ex;
    examples.push(plain);
    stats.tokens += ex.ids.length;
    stats.lossTokens += trained;
  }
  stats.examples = examples.length;
  const rows = opts.packing ? packExamples(examples, opts.maxSeqLen) : examples;
  stats.rows = rows.length;
  return { file, hash: datasetHash(bytes), examples: rows, stats };
}

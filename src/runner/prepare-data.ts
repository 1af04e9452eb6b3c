/**
 * Before a worker starts, the runner tokenizes the job's datasets with the shared TypeScript code
 * (src/core/dataset.ts) into the job folder's data/ (protocol.ts), so the tab and the runner train
 * on the same token ids and the worker never needs a tokenizer to train. Files are written whole
 * and renamed; errors name the dataset file and line.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeFileSource } from '../node/files.ts';
import { type Example, loadDataset } from '../core/dataset.ts';
import { FormatError } from '../core/errors.ts';
import type { DataConfig } from '../core/schema/data.ts';
import type { Stage } from '../core/schema/stage.ts';
import type { JobSpec } from '../core/schema/job-spec.ts';
import { checkTeacherStudentTokenizers, type Tokenizer } from '../core/tokenizer.ts';
import { tokenizerOf } from './tokenizers.ts';
import { DATA_DIR, EVAL_DATA_FILE, PROMPTS_FILE, type PromptRow, type TokenRow, stageDataFile } from './protocol.ts';

/** What happened, for the job's log. */
export interface Prepared {
  notes: string[];
}

/** Tokenize what `spec` needs into `jobDir`/data/. `workspace` is what relative spec paths resolve against. */
export async function prepareJobData(spec: JobSpec, jobDir: string, workspace: string): Promise<Prepared> {
  const src = new NodeFileSource(workspace);
  const notes: string[] = [];
  await mkdir(join(jobDir, DATA_DIR), { recursive: true });
  switch (spec.kind) {
    case 'distill': {
      const tok = await tokenizerOf(src, spec.student.path);
      const online = spec.stages.some((s) => s.loss.teacherTargets === 'online' && s.loss.divergence !== 'none');
      if (online && (await src.exists(join(spec.teacher.path, 'tokenizer.json'))))
        checkTeacherStudentTokenizers(await tokenizerOf(src, spec.teacher.path), tok);
      for (const [i, stage] of spec.stages.entries()) {
        const rows = await tokenRows(src, tok, stage.data.path, stage.data);
        if (stage.loss.uld) notes.push(await addTeacherRows(src, spec.teacher.path, tok, stage, rows.rows));
        await writeLines(join(jobDir, stageDataFile(i)), rows.rows);
        notes.push(`stage ${i} '${stage.name}': ${stage.data.path} → ${stageDataFile(i)}: ${rows.summary}`);
      }
      if (spec.eval.dataset) {
        const rows = await tokenRows(src, tok, spec.eval.dataset, spec.stages[0].data);
        await writeLines(join(jobDir, EVAL_DATA_FILE), rows.rows);
        notes.push(`eval: ${spec.eval.dataset} → ${EVAL_DATA_FILE}: ${rows.summary}`);
      }
      break;
    }
    case 'eval': {
      const rows = await promptRows(src, await tokenizerOf(src, spec.model.path), spec.dataset);
      await writeLines(join(jobDir, PROMPTS_FILE), rows);
      notes.push(`${spec.dataset} → ${PROMPTS_FILE}: ${rows.length} prompts`);
      break;
    }
    case 'teacher-generate':
      if (spec.source.kind === 'local') {
        const rows = await promptRows(src, await tokenizerOf(src, spec.source.path), spec.prompts);
        await writeLines(join(jobDir, PROMPTS_FILE), rows);
        notes.push(`${spec.prompts} → ${PROMPTS_FILE}: ${rows.length} prompts`);
      }
      break;
    case 'export':
      break;
  }
  return { notes };
}

async function tokenRows(src: NodeFileSource, tok: Tokenizer, path: string, data: DataConfig): Promise<{ rows: TokenRow[]; summary: string }> {
  const ds = await loadDataset(src, tok, {
    path,
    format: data.format,
    useChatTemplate: data.chatTemplate,
    maxSeqLen: data.maxSeqLen,
    truncation: data.truncation,
    packing: data.packing,
  });
  const difficulty = data.curriculum === 'by-difficulty' ? await difficulties(src, path) : null;
  const negatives = data.negatives ? await negativeLines(src, path) : null;
  const rows = ds.examples.map((ex) => toTokenRow(ex, difficulty, negatives));
  const s = ds.stats;
  const summary = `${s.rows} rows, ${s.tokens} tokens (${s.lossTokens} trained), ${s.truncated} truncated, ${s.dropped} dropped`;
  return { rows, summary };
}

/**
 * Cross-tokenizer ULD (the worker's uld.py) pairs each row's answer tokens with the teacher's
 * tokenization of the same record: written beside the row as teacher_ids / teacher_labels. With one
 * tokenizer on both sides the worker reuses the row itself and nothing is added.
 */
async function addTeacherRows(src: NodeFileSource, teacherPath: string, tok: Tokenizer, stage: Stage, rows: TokenRow[]): Promise<string> {
  if (!(await src.exists(join(teacherPath, 'tokenizer.json')))) return `stage '${stage.name}': ULD: the teacher has no tokenizer.json; using the student's rows`;
  const teacherTok = await tokenizerOf(src, teacherPath);
  if (teacherTok.fingerprint() === tok.fingerprint()) return `stage '${stage.name}': ULD: teacher and student share a tokenizer`;
  if (stage.data.packing)
    throw new FormatError({ file: stage.data.path }, `stage '${stage.name}': loss.uld pairs each record with its teacher tokenization; set data.packing false`);
  const byLine = new Map((await tokenRows(src, teacherTok, stage.data.path, stage.data)).rows.map((r) => [r.line, r]));
  for (const row of rows) {
    const t = byLine.get(row.line);
    if (!t) throw new FormatError({ file: stage.data.path, line: row.line }, "the teacher's tokenization of this record has no trained token left (loss.uld needs one on both sides)");
    row.teacher_ids = t.ids;
    row.teacher_labels = t.labels;
  }
  return `stage '${stage.name}': ULD: ${rows.length} rows also tokenized with the teacher's tokenizer (${teacherPath})`;
}

/** An Example as the worker reads it: teacher top-k as one entry per label ≠ −1. */
export function toTokenRow(ex: Example, difficulty: Map<number, number> | null, negatives: Set<number> | null = null): TokenRow {
  const row: TokenRow = { ids: Array.from(ex.ids), labels: Array.from(ex.labels), line: ex.lines[0] };
  if (ex.docStarts.length > 1) row.doc_starts = ex.docStarts;
  if (ex.teacher) {
    const { k, ids, logprobs } = ex.teacher;
    row.teacher_topk = [];
    for (let t = 0; t < ex.labels.length; t++) {
      if (ex.labels[t] < 0) continue;
      const entry = { ids: [] as number[], logprobs: [] as number[] };
      for (let c = 0; c < k; c++)
        if (ids[t * k + c] >= 0) {
          entry.ids.push(ids[t * k + c]);
          entry.logprobs.push(logprobs[t * k + c]);
        }
      row.teacher_topk.push(entry);
    }
  }
  const d = difficulty?.get(ex.lines[0]);
  if (d !== undefined) row.difficulty = d;
  if (negatives?.has(ex.lines[0])) row.negative = true;
  return row;
}

/** `difficulty` of each line that has one (dataset.ts does not keep extra fields). */
async function difficulties(src: NodeFileSource, path: string): Promise<Map<number, number>> {
  return perLine(src, path, ({ difficulty: d }) => (typeof d === 'number' && Number.isFinite(d) ? d : undefined));
}

/** Lines flagged `"negative": true`: wrong traces for data.negatives (the worker's negatives.py). */
async function negativeLines(src: NodeFileSource, path: string): Promise<Set<number>> {
  return new Set((await perLine(src, path, ({ negative }) => (negative === true ? true : undefined))).keys());
}

/** A field of each record, by 1-based line, where `read` finds one. */
async function perLine<T>(src: NodeFileSource, path: string, read: (record: Record<string, unknown>) => T | undefined): Promise<Map<number, T>> {
  const out = new Map<number, T>();
  (await src.readText(path)).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const v = read(JSON.parse(line) as Record<string, unknown>);
      if (v !== undefined) out.set(i + 1, v);
    } catch {
      // loadDataset already reported bad JSON
    }
  });
  return out;
}

/**
 * Prompts for generation: chat records lose a trailing assistant turn and get the generation
 * prompt; {prompt} becomes one user message (or plain text without a chat template).
 */
export async function promptRows(src: NodeFileSource, tok: Tokenizer, path: string): Promise<PromptRow[]> {
  const rows: PromptRow[] = [];
  const lines = (await readFile(src.resolve(path), 'utf8').catch(() => {
    throw new FormatError({ file: path }, 'no such file');
  })).replace(/^\uFEFF/, '').split('\n');
  lines.forEach((text, i) => {
    if (!text.trim()) return;
    const line = i + 1;
    let obj: Record<string, unknown>;
    try {
      obj = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new FormatError({ file: path, line }, `invalid JSON: ${(e as Error).message}`);
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new FormatError({ file: path, line }, 'expected a JSON object');
    const row: PromptRow = { ids: [], line };
    if (Array.isArray(obj.messages)) {
      const messages = obj.messages as { role: string; content: string }[];
      const head = messages.at(-1)?.role === 'assistant' ? messages.slice(0, -1) : messages;
      if (head.length === 0) throw new FormatError({ file: path, line, field: 'messages' }, 'no message before the assistant turn');
      row.ids = tok.applyChatTemplate(head, { addGenerationPrompt: true }).ids;
      row.messages = obj.messages;
    } else if (typeof obj.prompt === 'string') {
      row.ids = tok.hasChatTemplate
        ? tok.applyChatTemplate([{ role: 'user', content: obj.prompt }], { addGenerationPrompt: true }).ids
        : tok.encode(obj.prompt, { addSpecialTokens: true });
      row.prompt = obj.prompt;
    } else {
      throw new FormatError({ file: path, line }, 'expected "messages" or "prompt"');
    }
    if (typeof obj.answer === 'string' || typeof obj.answer === 'number') row.answer = String(obj.answer);
    if (typeof obj.difficulty === 'number') row.difficulty = obj.difficulty;
    rows.push(row);
  });
  if (rows.length === 0) throw new FormatError({ file: path }, 'no prompts (the file is empty)');
  return rows;
}

async function writeLines(file: string, rows: readonly object[]): Promise<void> {
  const tmp = `${file}.tmp`;
  await writeFile(tmp, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await rename(tmp, file);
}

/**
 * The demo's arithmetic problems (public/data/arith/val.jsonl) as prompts for the probing views:
 * the whole conversation in ChatML, so teacher forcing runs over the assistant's worked answer.
 */
import type { ChatMessage } from '../../core/tokenizer.ts';

export interface DemoProblem {
  /** The user's question, e.g. "Calculate 7+75." */
  question: string;
  /** The conversation as one ChatML string (the demo tokenizer's special tokens). */
  text: string;
}

const FILE = 'data/arith/val.jsonl';
/** Enough to choose from without fetching the whole split's weight into a select. */
const MAX = 30;

let cache: Promise<DemoProblem[]> | null = null;

/** The first problems of the demo's validation split, fetched once per page. */
export function demoProblems(): Promise<DemoProblem[]> {
  return (cache ??= fetch(new URL(FILE, document.baseURI)).then(async (res) => {
    if (!res.ok) throw new Error(`${FILE}: HTTP ${res.status}`);
    const lines = (await res.text()).split('\n').filter((l) => l.trim()).slice(0, MAX);
    return lines.map((line, i) => {
      let messages: ChatMessage[];
      try {
        messages = (JSON.parse(line) as { messages: ChatMessage[] }).messages;
      } catch (e) {
        throw new Error(`${FILE}:${i + 1}: ${(e as Error).message}`);
      }
      return { question: messages.find((m) => m.role === 'user')?.content ?? `problem ${i + 1}`, text: chatML(messages) };
    });
  }));
}

/** `<|im_start|>role\ncontent<|im_end|>\n` per message: the demo tokenizer's (Qwen's) chat format. */
export function chatML(messages: ChatMessage[]): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
}

/**
 * Where a probe is most telling by default: the token before the answer's first digit (after
 * `\boxed{`), else the last token.
 */
export function defaultPosition(tokens: string[]): number {
  const i = tokens.lastIndexOf('\\boxed{');
  return i >= 0 ? i : tokens.length - 1;
}

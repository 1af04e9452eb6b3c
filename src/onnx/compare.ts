/**
 * Full vs quantized: what a distilled student becomes once exported small. Platform-neutral: it takes
 * two language models behind one small interface (the engine, an ONNX session in Node or a browser)
 * and returns per-token KL(full ‖ quantized), perplexity, exact-match accuracy (answers checked with
 * src/core/answers.ts), model bytes and prefill/decode tokens per second, so the UI's quantization
 * view and `retort eval --compare` report the same numbers.
 */
import { checkAnswer } from '../core/answers.ts';
import { logSoftmax } from '../core/losses/softmax.ts';
import { parseJsonl } from '../core/dataset.ts';
import type { Tokenizer } from '../core/tokenizer.ts';

/** A causal LM as comparisons see it. */
export interface ComparableLM {
  /** Shown in reports ("engine fp32", "onnx q4 (webgpu)"). */
  label: string;
  /** Bytes of the weights as shipped (the ONNX file and its data; the safetensors for the engine). */
  bytes: number;
  /** Logits [T, vocab] of one forward over `ids` (row-major). */
  logits(ids: readonly number[]): Promise<{ data: Float32Array; vocab: number }>;
  /** Greedy continuation with the KV cache, timed. */
  greedy(prompt: readonly number[], maxNew: number, stop: readonly number[]): Promise<{ ids: number[]; prefillSeconds: number; decodeSeconds: number }>;
}

/** KL(p ‖ q) per row of two logit matrices [T, V] (p = softmax of `full`). */
export function perTokenKl(full: ArrayLike<number>, quant: ArrayLike<number>, vocab: number): number[] {
  if (full.length !== quant.length || full.length % vocab) throw new Error(`perTokenKl: logits of ${full.length} and ${quant.length} values do not share rows of ${vocab}`);
  const out: number[] = [];
  for (let off = 0; off < full.length; off += vocab) {
    const lp = logSoftmax(full, off, vocab);
    const lq = logSoftmax(quant, off, vocab);
    let kl = 0;
    for (let i = 0; i < vocab; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
    out.push(Math.max(kl, 0)); // round-off can leave −1e−17 for identical rows
  }
  return out;
}

/** Σ −log p(target) over the rows whose target ≥ 0, and how many there were. */
export function nll(logits: ArrayLike<number>, vocab: number, targets: readonly number[]): { sum: number; count: number } {
  let sum = 0, count = 0;
  targets.forEach((y, t) => {
    if (y < 0) return;
    sum -= logSoftmax(logits, t * vocab, vocab)[y];
    count++;
  });
  return { sum, count };
}

export interface Problem {
  /** Prompt tokens (chat template applied, generation prompt added). */
  prompt: number[];
  /** Prompt + reference completion: perplexity is measured on the completion's tokens. */
  full: number[];
  answer: string;
}

/**
 * Problems from a chat JSONL file ({"messages": [..., assistant], "answer": "…"} per line, the demo
 * data's format), the first `limit` of them: the prompt as the runner's eval builds it (chat template
 * up to the assistant turn, generation prompt added), the full sequence as prompt + the reference
 * reply + the first eos id. Errors name file:line.
 */
export function chatProblems(text: string, file: string, tok: Tokenizer, limit = Infinity): Problem[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  return parseJsonl(text, file, 'chat').slice(0, limit).map((r) => {
    if (r.format !== 'chat') throw new Error(`${file}:${r.line}: expected a chat record`);
    const answer = (JSON.parse(lines[r.line - 1]) as { answer?: unknown }).answer;
    if (typeof answer !== 'string') throw new Error(`${file}:${r.line}: no "answer" string to check the output against`);
    const reply = r.messages.at(-1);
    if (reply?.role !== 'assistant') throw new Error(`${file}:${r.line}: the last message is not the assistant's reference reply`);
    const prompt = tok.applyChatTemplate(r.messages.slice(0, -1), { addGenerationPrompt: true }).ids;
    return { prompt, full: [...prompt, ...tok.encode(reply.content, { addSpecialTokens: false }), ...tok.eosIds.slice(0, 1)], answer };
  });
}

export interface ModelScore {
  label: string;
  bytes: number;
  /** Fraction of problems whose greedy answer checks. */
  accuracy: number;
  /** exp(mean NLL) of the reference completions. */
  perplexity: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

export interface Comparison {
  problems: number;
  full: ModelScore;
  quantized: ModelScore;
  /** KL(full ‖ quantized) over every completion token: mean and max. */
  klMean: number;
  klMax: number;
}

export interface CompareOptions {
  maxNewTokens: number;
  stop: readonly number[];
  decode: (ids: readonly number[]) => string;
}

async function score(lm: ComparableLM, problems: readonly Problem[], opts: CompareOptions, keep: (i: number, logits: Float32Array, vocab: number) => void): Promise<ModelScore> {
  let correct = 0, nllSum = 0, nllCount = 0, prefillTokens = 0, prefillSeconds = 0, decodeTokens = 0, decodeSeconds = 0;
  for (const [i, p] of problems.entries()) {
    const { data, vocab } = await lm.logits(p.full);
    keep(i, data, vocab);
    const targets = p.full.map((_, t) => (t >= p.prompt.length - 1 && t + 1 < p.full.length ? p.full[t + 1] : -1));
    const n = nll(data, vocab, targets);
    nllSum += n.sum;
    nllCount += n.count;
    const g = await lm.greedy(p.prompt, opts.maxNewTokens, opts.stop);
    if (checkAnswer(opts.decode(g.ids), p.answer).correct) correct++;
    prefillTokens += p.prompt.length;
    prefillSeconds += g.prefillSeconds;
    decodeTokens += g.ids.length - 1; // the first new token comes out of the prefill
    decodeSeconds += g.decodeSeconds;
  }
  return {
    label: lm.label,
    bytes: lm.bytes,
    accuracy: correct / problems.length,
    perplexity: Math.exp(nllSum / nllCount),
    prefillTokensPerSecond: prefillTokens / prefillSeconds,
    decodeTokensPerSecond: decodeTokens / decodeSeconds,
  };
}

/** Scores both models on the same problems; KL is taken on the reference completions' positions. */
export async function compareModels(full: ComparableLM, quantized: ComparableLM, problems: readonly Problem[], opts: CompareOptions): Promise<Comparison> {
  if (problems.length === 0) throw new Error('compareModels: no problems to compare on');
  const fullLogits: Float32Array[] = [];
  const fullScore = await score(full, problems, opts, (i, logits) => (fullLogits[i] = logits.slice()));
  const kls: number[] = [];
  const quantScore = await score(quantized, problems, opts, (i, logits, vocab) => {
    const from = (problems[i].prompt.length - 1) * vocab;
    const to = (problems[i].full.length - 1) * vocab;
    kls.push(...perTokenKl(fullLogits[i].subarray(from, to), logits.subarray(from, to), vocab));
  });
  return {
    problems: problems.length,
    full: fullScore,
    quantized: quantScore,
    klMean: kls.reduce((a, b) => a + b, 0) / kls.length,
    klMax: Math.max(...kls),
  };
}

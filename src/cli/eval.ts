/**
 * `retort eval`: answer accuracy of a model on a JSONL set, generated on the engine (Node/Dawn).
 *
 * It is the runner's eval job (src/runner/torch/retort_torch/jobs/evaluate.py) run on the engine:
 * the same prompts (the runner's promptRows: chat template, trailing assistant turn dropped,
 * generation prompt added), the same stop rule (the eos ids of generation_config.json, else
 * config.json; the eos token is kept and decoded with special tokens skipped), the same checker
 * (src/core/answers.ts, mirrored by the worker's answers.py) and the same score (pass@1 averaged over
 * n samples per problem). test/cli/eval.test.ts holds the two to the same greedy outputs.
 */
import { join } from 'node:path';
import { checkAnswer, type CheckResult } from '../core/answers.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import type { Decoder } from '../engine/model/decoder.ts';
import { generate } from '../engine/generate.ts';
import { promptRows } from '../runner/prepare-data.ts';
import type { PromptRow } from '../runner/protocol.ts';
import { num, parseCommand } from './args.ts';
import { NodeFileSource } from './node-files.ts';
import { openModel } from './open-model.ts';

const HELP = `usage: retort eval --model DIR --dataset FILE [options]

Generates an answer for every problem of FILE (JSONL: {"messages": […]} or {"prompt": …}, with an
"answer") on the engine and checks the \\boxed{} value after </think> against it. Sampling follows
the model's generation_config.json unless overridden; the settings used are printed.
  --limit N            only the first N problems
  --max-new-tokens N   tokens per answer (default: generation_config max_new_tokens, else 4096)
  --temperature T      0 = greedy (default: 0 unless generation_config sets do_sample)
  --top-p P            nucleus mass (default: generation_config top_p when sampling, else 1)
  --samples N          samples per problem; accuracy is pass@1 averaged over them (default 1)
  --seed S             sampling seed (default 0)
  --json               print one line {"accuracy":…,"n":…,…} instead of a report
  --compare --onnx DIR --dtype q4
                       the checkpoint (engine) vs its ONNX export on the same problems: per-token
                       KL, exact match, perplexity, bytes, tokens/s (as \`retort quant-compare\`)`;

/** What generation used, recorded with the result (the worker's `settings`, camel-cased). */
export interface EvalSettings {
  temperature: number;
  topP: number;
  maxNewTokens: number;
  samples: number;
  seed: number;
  stopIds: number[];
}

export interface SampleOutcome extends CheckResult {
  output: string;
  tokens: number;
  finish: 'stop' | 'length';
}

export interface ProblemOutcome {
  line: number;
  answer: string;
  /** Fraction of samples that were correct. */
  score: number;
  samples: SampleOutcome[];
}

export interface EvalReport {
  accuracy: number;
  /** Problems scored. */
  n: number;
  correct: number;
  noAnswer: number;
  settings: EvalSettings;
  problems: ProblemOutcome[];
}

type GenerationConfig = Record<string, unknown>;

async function readJsonIfAny(src: NodeFileSource, file: string): Promise<GenerationConfig | null> {
  if (!(await src.exists(file))) return null;
  try {
    return JSON.parse(await src.readText(file)) as GenerationConfig;
  } catch (e) {
    throw new Error(`${file}: invalid JSON: ${(e as Error).message}`);
  }
}

const ids = (v: unknown): number[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]).map(Number);

/** eos ids as the worker's eos_ids(): generation_config.json's, else config.json's. */
export async function stopIdsOf(src: NodeFileSource, dir: string): Promise<number[]> {
  for (const name of ['generation_config.json', 'config.json']) {
    const eos = (await readJsonIfAny(src, join(dir, name)))?.eos_token_id;
    if (eos !== undefined && eos !== null) return ids(eos);
  }
  return [];
}

/** The settings: options given win, then generation_config.json (HF semantics), then greedy. */
export async function evalSettings(
  src: NodeFileSource,
  dir: string,
  o: { temperature?: number; topP?: number; maxNewTokens?: number; samples?: number; seed?: number },
): Promise<EvalSettings> {
  const gen = (await readJsonIfAny(src, join(dir, 'generation_config.json'))) ?? {};
  const sampling = gen.do_sample === true;
  const settings: EvalSettings = {
    temperature: o.temperature ?? (sampling ? Number(gen.temperature ?? 1) : 0),
    topP: o.topP ?? (sampling ? Number(gen.top_p ?? 1) : 1),
    maxNewTokens: o.maxNewTokens ?? Number(gen.max_new_tokens ?? 4096),
    samples: o.samples ?? 1,
    seed: o.seed ?? 0,
    stopIds: await stopIdsOf(src, dir),
  };
  if (!(settings.maxNewTokens >= 1 && Number.isInteger(settings.maxNewTokens))) throw new Error(`max new tokens: expected a positive integer, got ${settings.maxNewTokens}`);
  if (!(settings.samples >= 1 && Number.isInteger(settings.samples))) throw new Error(`--samples: expected a positive integer, got ${settings.samples}`);
  if (!(settings.temperature >= 0)) throw new Error(`temperature: expected ≥ 0, got ${settings.temperature}`);
  if (!(settings.topP > 0 && settings.topP <= 1)) throw new Error(`top-p: expected a value in (0, 1], got ${settings.topP}`);
  return settings;
}

/** Score `prompts` (rows with answers) on the engine; `onProblem` sees each problem as it is done. */
export async function evaluateOnEngine(
  model: Decoder,
  tokenizer: Tokenizer,
  prompts: readonly PromptRow[],
  settings: EvalSettings,
  onProblem?: (p: ProblemOutcome, done: number) => void,
): Promise<EvalReport> {
  const problems: ProblemOutcome[] = [];
  const vocab = Math.min(tokenizer.size, model.spec.vocabSize);
  const room = model.spec.maxPositions;
  for (const row of prompts) {
    const samples: SampleOutcome[] = [];
    for (let s = 0; s < settings.samples; s++) {
      const out: number[] = [];
      const maxNewTokens = Math.min(settings.maxNewTokens, room - row.ids.length);
      for await (const id of generate(model, Int32Array.from(row.ids), {
        temperature: settings.temperature,
        topP: settings.topP,
        topK: 0,
        repetitionPenalty: 1,
        maxNewTokens,
        seed: settings.seed + s,
        stopIds: settings.stopIds,
        vocab,
      }))
        out.push(id);
      const output = tokenizer.decode(out, { skipSpecial: true });
      const stopped = out.length > 0 && settings.stopIds.includes(out[out.length - 1]);
      samples.push({ ...checkAnswer(output, row.answer!), output, tokens: out.length, finish: stopped ? 'stop' : 'length' });
    }
    const p = { line: row.line!, answer: row.answer!, score: samples.filter((x) => x.correct).length / samples.length, samples };
    problems.push(p);
    onProblem?.(p, problems.length);
  }
  const all = problems.flatMap((p) => p.samples);
  return {
    accuracy: problems.length ? problems.reduce((a, p) => a + p.score, 0) / problems.length : 0,
    n: problems.length,
    correct: all.filter((s) => s.correct).length,
    noAnswer: all.filter((s) => s.reason === 'no-answer').length,
    settings,
    problems,
  };
}

/** The dataset's prompts as the runner builds them, the first `limit`, each with a reference answer. */
export async function evalPrompts(src: NodeFileSource, tokenizer: Tokenizer, dataset: string, limit?: number): Promise<PromptRow[]> {
  const rows = (await promptRows(src, tokenizer, dataset)).slice(0, limit);
  const missing = rows.filter((r) => r.answer === undefined);
  if (missing.length) throw new Error(`${dataset}:${missing[0].line}: field 'answer': required for eval (${missing.length} problems lack it)`);
  return rows;
}

export async function evalCommand(argv: string[]): Promise<number> {
  // Full vs exported: the same problems through the checkpoint and its ONNX export (src/cli/quant-compare.ts).
  if (argv.includes('--compare')) return (await import('./quant-compare.ts')).quantCompareCommand(argv.filter((a) => a !== '--compare'));
  const o = parseCommand('eval', argv, {
    model: { type: 'string' }, dataset: { type: 'string' }, limit: { type: 'string' },
    'max-new-tokens': { type: 'string' }, temperature: { type: 'string' }, 'top-p': { type: 'string' },
    samples: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
  }, HELP);
  if (!o) return 0;
  if (!o.model || !o.dataset) throw new Error(`--model and --dataset are required\n\n${HELP}`);
  const opt = (v: string | undefined, name: string) => (v === undefined ? undefined : num(v, name, 0));
  const limit = opt(o.limit, '--limit');
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new Error(`--limit: expected a positive integer, got "${o.limit}"`);
  const src = new NodeFileSource();
  const settings = await evalSettings(src, o.model, {
    temperature: opt(o.temperature, '--temperature'),
    topP: opt(o['top-p'], '--top-p'),
    maxNewTokens: opt(o['max-new-tokens'], '--max-new-tokens'),
    samples: opt(o.samples, '--samples'),
    seed: opt(o.seed, '--seed'),
  });
  const { model, tokenizer } = await openModel(o.model, { needTokenizer: true });
  const prompts = await evalPrompts(src, tokenizer!, o.dataset, limit);
  if (!o.json) console.log(`${o.model} on ${o.dataset}: ${prompts.length} problems, ${JSON.stringify(settings)}`);
  const t0 = Date.now();
  const report = await evaluateOnEngine(model, tokenizer!, prompts, settings, (p, done) => {
    if (!o.json) console.log(`${String(done).padStart(5)}/${prompts.length}  line ${p.line}  ${p.score === 1 ? 'right' : p.score === 0 ? 'wrong' : p.score.toFixed(2)}  (answer ${p.answer}, got ${p.samples[0].extracted ?? 'nothing'})`);
  });
  const seconds = (Date.now() - t0) / 1000;
  if (o.json) {
    const { accuracy, n, correct, noAnswer } = report;
    console.log(JSON.stringify({ accuracy, n, correct, noAnswer, seconds, settings }));
  } else {
    console.log(`accuracy ${(100 * report.accuracy).toFixed(2)}% (pass@1 over ${settings.samples} sample${settings.samples > 1 ? 's' : ''}) on ${report.n} problems; ${report.noAnswer} without a \\boxed{} answer; ${seconds.toFixed(1)} s`);
  }
  model.dispose();
  return 0;
}

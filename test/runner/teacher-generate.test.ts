/**
 * teacher-generate through the runner with the REAL torch worker and the REAL serve worker, twice:
 * the teacher reached over the runner's OWN /v1/chat/completions (served with --serve, bearer token,
 * token ids for the top-k log-probs) and the same teacher run locally by the job. The teacher is a
 * successor model (make_tiny --successor) on the tiny byte tokenizer: whatever the prompt, the
 * assistant turn (which starts after "\n") is `\boxed{7}`, so what each filter drops is known.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner } from '../../src/runner/runner.ts';
import { startRunner } from '../../src/runner/runner.ts';
import { PYTHON } from '../helpers/python.ts';
import { torchModule } from '../helpers/torch-worker.ts';
import { TINY_VOCAB, TOKEN, call, makeWorkspace, placeTokenizer, waitForState } from './helpers.ts';

const EOS = 258; // <|im_end|> in the tiny tokenizer, whose ids 0–255 are the bytes themselves
const ANSWER = '\\boxed{7}'; // no byte twice, so a successor model can spell it
const CHAIN = [...Buffer.from(ANSWER)];

let runner: Runner;
let ws: string;

beforeAll(async () => {
  ws = makeWorkspace();
  const dir = join(ws, 'models', 'boxed7');
  const successor = Object.fromEntries([10, ...CHAIN].slice(0, -1).map((id, i) => [id, CHAIN[i]]));
  torchModule('make_tiny', ['--arch', 'qwen2', '--successor', JSON.stringify(successor), '--eos', String(EOS), '--vocab', String(TINY_VOCAB), '--out', dir]);
  placeTokenizer(dir);
  const prompts = [
    { prompt: 'What is 3 + 4?', answer: '7' }, // right: one kept, its second sample a duplicate
    { messages: [{ role: 'user', content: 'What is 2 + 3?' }], answer: '5' }, // wrong answer, twice
    { prompt: 'Say anything.' }, // nothing to check against, twice
  ];
  writeFileSync(join(ws, 'data', 'prompts.jsonl'), prompts.map((p) => JSON.stringify(p)).join('\n') + '\n');
  runner = await startRunner({ workspace: ws, port: 0, token: TOKEN, gpus: [], serve: [dir], stopGraceMs: 30_000, executor: { python: PYTHON } });
});
afterAll(async () => {
  await runner?.close();
});

function spec(source: object, output: string) {
  return {
    kind: 'teacher-generate',
    source,
    prompts: 'data/prompts.jsonl',
    sampling: { samplesPerPrompt: 2, maxNewTokens: 32, seed: 3 },
    logprobs: { topK: 2 },
    filters: { answerCheck: true, dedup: 'exact' },
    output,
  };
}

interface Trace {
  prompt?: string;
  completion?: string;
  messages?: { role: string; content: string }[];
  answer: string;
  teacher_topk: { ids: number[]; logprobs: number[] }[];
}

async function generate(source: object, output: string) {
  const r = await call(runner, 'POST', '/v1/jobs', spec(source, output));
  expect(r.status, r.text).toBe(201);
  const job = await waitForState(runner, r.json.id, ['finished', 'failed', 'stopped'], 120_000);
  expect(job.state, job.error).toBe('finished');
  const report = JSON.parse(readFileSync(join(ws, `${output}.report.json`), 'utf8'));
  const kept = readFileSync(join(ws, output), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Trace);
  console.log(`${JSON.stringify(source).slice(0, 40)}…: kept ${report.kept}/${report.generated}, dropped ${JSON.stringify(report.dropped)}`);
  return { report, kept };
}

/** What every report must say: 3 prompts × 2 samples, one kept, and why each of the other five went. */
function expectReport(report: Record<string, unknown>) {
  expect(report.prompts).toBe(3);
  expect(report.generated).toBe(6);
  expect(report.kept).toBe(1);
  expect(report.dropped).toEqual({ request_failed: 0, too_short: 0, too_long: 0, bad_format: 0, no_reference: 2, no_answer: 0, wrong_answer: 2, duplicate: 1 });
  expect(report.checked).toBe(4);
  expect(report.accuracy).toBeCloseTo(2 / 4, 12);
}

describe('teacher-generate through the runner', () => {
  it("uses the runner's own /v1/chat/completions as the OpenAI endpoint (token ids for the top-k)", async () => {
    const source = { kind: 'openai', baseUrl: `${runner.url}/v1`, apiKey: TOKEN, model: 'boxed7', concurrency: 2, retries: 0 };
    const { report, kept } = await generate(source, 'data/traces-openai.jsonl');
    expectReport(report);
    expect(kept).toHaveLength(1);
    expect(kept[0].prompt).toBe('What is 3 + 4?');
    expect(kept[0].completion).toBe(ANSWER);
    expect(kept[0].answer).toBe('7');
    // The argmax of every generated token's top-2 is the chain; the runner sent ids, not strings.
    expect(kept[0].teacher_topk.map((e) => e.ids[0])).toEqual([...CHAIN, EOS]);
    for (const e of kept[0].teacher_topk) {
      expect(e.ids).toHaveLength(2);
      expect(e.logprobs[0]).toBeGreaterThan(-1e-6);
    }
  });

  it('runs the same teacher locally with the same filter report', async () => {
    const { report, kept } = await generate({ kind: 'local', path: 'models/boxed7' }, 'data/traces-local.jsonl');
    expectReport(report);
    expect(kept).toHaveLength(1);
    expect(kept[0].completion ?? kept[0].messages?.at(-1)?.content).toBe(ANSWER);
    expect(kept[0].teacher_topk.map((e) => e.ids[0])).toEqual([...CHAIN, EOS]);
  });
});

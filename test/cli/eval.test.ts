import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { evalCommand, evalPrompts, evalSettings, evaluateOnEngine, type EvalReport } from '../../src/cli/eval.ts';
import { runJob, type EvalResult } from '../../src/cli/demo.ts';
import { openModel } from '../../src/cli/open-model.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { parseJobSpec } from '../../src/core/schema/index.ts';
import { findPython } from '../../src/runner/executor.ts';
import { RESULT_FILE } from '../../src/runner/protocol.ts';
import { gpu } from '../helpers/gpu.ts';
import { tempDir } from '../helpers/torch-worker.ts';

const TEACHER = 'public/models/demo-teacher';
const STUDENT = 'public/models/demo-student';
const TEST = 'public/data/arith/test.jsonl';

/** The runner's eval job on the torch worker, as `retort runner` would run it. */
interface TorchEvalResult {
  metrics: EvalResult['metrics'];
  problems: { samples: { output: string; correct: boolean; finish: string }[] }[];
}

async function torchEval(model: string, dataset: string, maxNewTokens: number): Promise<TorchEvalResult> {
  const job = tempDir('eval-torch-');
  const spec = parseJobSpec({ kind: 'eval', model: { path: model }, dataset, sampling: { temperature: 0, maxNewTokens } }, 'eval test spec');
  await runJob(findPython(), process.cwd(), job, spec);
  return JSON.parse(readFileSync(join(job, RESULT_FILE), 'utf8'));
}

async function engineEval(model: string, dataset: string, maxNewTokens: number): Promise<EvalReport> {
  const src = new NodeFileSource();
  const { model: decoder, tokenizer } = await openModel(model, { rt: await gpu(), needTokenizer: true });
  try {
    const settings = await evalSettings(src, model, { maxNewTokens });
    return await evaluateOnEngine(decoder, tokenizer!, await evalPrompts(src, tokenizer!, dataset), settings);
  } finally {
    decoder.dispose();
  }
}

function slice(lines: number[]): string {
  const all = readFileSync(TEST, 'utf8').split('\n');
  const file = join(tempDir('eval-slice-'), 'slice.jsonl');
  writeFileSync(file, lines.map((l) => all[l - 1]).join('\n') + '\n');
  return file;
}

describe('retort eval', () => {
  it('generates what the runner\'s eval job generates (greedy): same texts, same verdicts, same accuracy', { timeout: 900_000 }, async () => {
    // A short problem the teacher solves (stops at <|im_end|>), and the untrained student cut off
    // after 12 tokens (stops at the length limit, no answer): both finish rules and both verdicts.
    const cases = [
      { model: TEACHER, file: slice([1]), maxNewTokens: 64 },
      { model: STUDENT, file: slice([1]), maxNewTokens: 12 },
    ];
    for (const c of cases) {
      const engine = await engineEval(c.model, c.file, c.maxNewTokens);
      const torch = await torchEval(c.model, c.file, c.maxNewTokens);
      const got = engine.problems.map((p) => p.samples.map((s) => [s.output, s.correct, s.finish]));
      const want = torch.problems.map((p) => p.samples.map((s) => [s.output, s.correct, s.finish]));
      console.log(`${c.model}: engine ${JSON.stringify(got)}\n  torch ${JSON.stringify(want)}`);
      expect(got).toEqual(want);
      expect(engine.accuracy).toBe(torch.metrics.accuracy);
    }
  });

  it('prints one JSON line with accuracy, n and the settings it used', { timeout: 600_000 }, async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => lines.push(a.join(' '));
    try {
      expect(await evalCommand(['--model', STUDENT, '--dataset', slice([1]), '--max-new-tokens', '3', '--json'])).toBe(0);
    } finally {
      console.log = log;
    }
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]);
    expect(out).toMatchObject({ accuracy: 0, n: 1, correct: 0, noAnswer: 1, settings: { temperature: 0, maxNewTokens: 3, samples: 1 } });
    // generation_config.json: greedy, eos_token_id [<|im_end|>, <|endoftext|>]
    const gen = JSON.parse(readFileSync(join(STUDENT, 'generation_config.json'), 'utf8'));
    expect(gen.do_sample).toBe(false);
    expect(out.settings.stopIds).toEqual(gen.eos_token_id);
  });

  it('takes sampling from generation_config.json when it samples; options win', async () => {
    const dir = tempDir('eval-gen-');
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ do_sample: true, temperature: 0.6, top_p: 0.95, max_new_tokens: 99, eos_token_id: 7 }));
    const src = new NodeFileSource();
    expect(await evalSettings(src, dir, {})).toEqual({ temperature: 0.6, topP: 0.95, maxNewTokens: 99, samples: 1, seed: 0, stopIds: [7] });
    expect(await evalSettings(src, dir, { temperature: 0, maxNewTokens: 5, samples: 3 })).toMatchObject({ temperature: 0, maxNewTokens: 5, samples: 3 });
    await expect(evalSettings(src, dir, { samples: 0 })).rejects.toThrow(/--samples/);
  });

  it('names the file and line of a problem without an answer', async () => {
    const file = join(tempDir('eval-bad-'), 'bad.jsonl');
    writeFileSync(file, '{"prompt":"1+1?","answer":"2"}\n{"prompt":"2+2?"}\n');
    const { tokenizer } = await openModel(STUDENT, { rt: await gpu(), needTokenizer: true });
    await expect(evalPrompts(new NodeFileSource(), tokenizer!, file)).rejects.toThrow(`${file}:2: field 'answer'`);
  });
});

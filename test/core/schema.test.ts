import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  parseJobSpec,
  parseJobSpecText,
  type DistillConfig,
  type JobSpecInput,
} from '../../src/core/schema/index.ts';
import { jobSpecJsonSchema, jobSpecJsonSchemaText } from '../../src/core/schema/json-schema.ts';

const minimalDistill = {
  kind: 'distill',
  teacher: { path: 'models/teacher' },
  student: { path: 'models/student' },
  stages: [{ data: { path: 'data/train.jsonl' }, stop: { steps: 100 } }],
} satisfies JobSpecInput;

function errorOf(json: unknown, source = 'examples/x.json'): ConfigError {
  try {
    parseJobSpec(json, source);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

function withStage(stage: Record<string, unknown>, top: Record<string, unknown> = {}): unknown {
  return { ...minimalDistill, ...top, stages: [{ ...minimalDistill.stages[0], ...stage }] };
}

describe('JobSpec defaults', () => {
  it('fills a minimal distill spec with the documented defaults', () => {
    const spec = parseJobSpec(minimalDistill) as DistillConfig;
    expect(spec.kind).toBe('distill');
    expect(spec.student.init).toBe('pretrained');
    expect(spec.seed).toBe(42);
    expect(spec.stages[0]).toEqual({
      name: 'main',
      data: {
        path: 'data/train.jsonl',
        format: 'auto',
        chatTemplate: true,
        maxSeqLen: 2048,
        truncation: 'right',
        packing: false,
        curriculum: 'none',
      },
      loss: {
        divergence: 'forward-kl',
        beta: 0.5,
        lambda: 0.1,
        alpha: 0.5,
        temperature: { kind: 'constant', value: 1 },
        teacherTargets: 'online',
      },
      stop: { steps: 100, metric: 'eval_loss' },
    });
    expect(spec.optimizer).toEqual({
      lr: 2e-5,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weightDecay: 0.01,
      gradClip: 1,
      schedule: { kind: 'cosine', warmupSteps: 0, minLrRatio: 0.1 },
    });
    expect(spec.batch).toEqual({ microBatch: 4, gradAccumulation: 1 });
    expect(spec.checkpoint).toEqual({ everySteps: 500, keepLast: 3 });
    expect(spec.eval).toEqual({ everySteps: 0, maxSamples: 64 });
    expect(spec.lora).toBeUndefined();
    expect(spec.qat).toBeUndefined();
  });

  it('fills LoRA, QAT and sparse-target defaults when the sections are present', () => {
    const spec = parseJobSpec(
      withStage(
        { data: { path: 'd.jsonl', teacherTopK: {} }, loss: { teacherTargets: 'offline-topk' } },
        { lora: {}, qat: { bits: 8 }, student: { path: 's', init: { fromTeacherLayers: [0, 2, 4] } } },
      ),
    ) as DistillConfig;
    expect(spec.lora).toEqual({ rank: 16, alpha: 32, dropout: 0.05, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] });
    expect(spec.qat).toEqual({ bits: 8, groupSize: 128, symmetric: true, perChannel: true });
    expect(spec.stages[0].data.teacherTopK).toEqual({ k: 20 });
    expect(spec.student.init).toEqual({ fromTeacherLayers: [0, 2, 4] });
  });

  it('parses each job kind with its defaults', () => {
    expect(
      parseJobSpec({
        kind: 'teacher-generate',
        source: { kind: 'openai', baseUrl: 'http://localhost:8000/v1', model: 'deepseek-r1' },
        prompts: 'p.jsonl',
        output: 'traces.jsonl',
      }),
    ).toEqual({
      kind: 'teacher-generate',
      source: { kind: 'openai', baseUrl: 'http://localhost:8000/v1', model: 'deepseek-r1', concurrency: 8, retries: 3 },
      prompts: 'p.jsonl',
      sampling: { temperature: 0.6, topP: 0.95, topK: 0, maxNewTokens: 4096, samplesPerPrompt: 1, seed: 0 },
      filters: { answerCheck: false, minLength: 0, requireThink: false, dedup: 'exact', nearDupThreshold: 0.9 },
      curriculum: 'none',
      output: 'traces.jsonl',
    });
    expect(parseJobSpec({ kind: 'eval', model: { path: 'm' }, dataset: 'e.jsonl' })).toEqual({
      kind: 'eval',
      model: { path: 'm' },
      dataset: 'e.jsonl',
      sampling: { temperature: 0, topP: 1, maxNewTokens: 4096, n: 1, seed: 0 },
    });
    expect(parseJobSpec({ kind: 'export', model: { path: 'm', dtype: 'bf16' }, out: 'o' })).toEqual({
      kind: 'export',
      model: { path: 'm', dtype: 'bf16' },
      dtype: 'q4',
      out: 'o',
    });
  });

  it('accepts a resolved spec again unchanged (a run manifest re-validates)', () => {
    const once = parseJobSpec(withStage({ loss: { temperature: { kind: 'linear', from: 5, to: 1 } } }, { lora: {} }));
    const twice = parseJobSpec(JSON.parse(JSON.stringify(once)));
    expect(twice).toEqual(once);
  });

  it('ignores an editor $schema reference', () => {
    expect(() => parseJobSpec({ $schema: '../schemas/job-spec.schema.json', ...minimalDistill })).not.toThrow();
  });
});

describe('JobSpec errors name the source and the field', () => {
  const cases: [string, unknown, string][] = [
    ['alpha above 1', withStage({ loss: { alpha: 1.5 } }), 'examples/x.json: stages.0.loss.alpha: must be ≤ 1'],
    ['negative beta', withStage({ loss: { beta: -0.1 } }), 'examples/x.json: stages.0.loss.beta: must be ≥ 0'],
    ['zero temperature', withStage({ loss: { temperature: { kind: 'constant', value: 0 } } }),
      'examples/x.json: stages.0.loss.temperature.value: must be > 0'],
    ['unknown temperature kind', withStage({ loss: { temperature: { kind: 'exp' } } }),
      "examples/x.json: stages.0.loss.temperature.kind: must be one of 'constant', 'linear', 'cosine' (got 'exp')"],
    ['unknown divergence', withStage({ loss: { divergence: 'kl' } }),
      "examples/x.json: stages.0.loss.divergence: must be one of 'forward-kl', 'reverse-kl', 'gjsd', 'skew-kl', 'skew-reverse-kl', 'tvd', 'none' (got 'kl')"],
    ['misspelt field', withStage({ loss: { alhpa: 0.3 } }), 'examples/x.json: stages.0.loss.alhpa: unknown field'],
    ['fractional steps', withStage({ stop: { steps: 2.5 } }), 'examples/x.json: stages.0.stop.steps: must be an integer (got 2.5)'],
    ['missing stop', { ...minimalDistill, stages: [{ data: { path: 'd' } }] }, 'examples/x.json: stages.0.stop: is required'],
    ['no stages', { ...minimalDistill, stages: [] }, 'examples/x.json: stages: must have at least 1 item'],
    ['empty data path', withStage({ data: { path: '' } }), 'examples/x.json: stages.0.data.path: must not be empty'],
    ['wrong type', { ...minimalDistill, seed: 'abc' }, 'examples/x.json: seed: expected number, got string'],
    ['unknown kind', { kind: 'train' },
      "examples/x.json: kind: must be one of 'distill', 'teacher-generate', 'eval', 'export' (got 'train')"],
    ['not an object', [], 'examples/x.json: expected object, got array'],
    ['qat bits', { ...minimalDistill, qat: { bits: 3 } }, 'examples/x.json: qat.bits: must be one of 8, 4 (got 3)'],
    ['offline-topk without cached targets', withStage({ loss: { teacherTargets: 'offline-topk' } }),
      "examples/x.json: stages.0.data.teacherTopK: required when loss.teacherTargets is 'offline-topk' (the data must carry cached top-k)"],
    ['SFT with a divergence', withStage({ loss: { teacherTargets: 'none', divergence: 'reverse-kl' } }),
      "examples/x.json: stages.0.loss.divergence: must be 'none' when teacherTargets is 'none' (got 'reverse-kl')"],
    ['duplicate stage names', { ...minimalDistill, stages: [minimalDistill.stages[0], minimalDistill.stages[0]] },
      "examples/x.json: stages.1.name: duplicate stage name 'main' (also stages.0.name)"],
    ['early stop without eval', withStage({ stop: { steps: 10, earlyStopPatience: 3 } }),
      'examples/x.json: stages.0.stop.earlyStopPatience: needs periodic evaluation (eval.everySteps > 0)'],
    ['bad base url', { kind: 'teacher-generate', source: { kind: 'openai', baseUrl: 'localhost', model: 'm' }, prompts: 'p', output: 'o' },
      "examples/x.json: source.baseUrl: must be a valid url (got 'localhost')"],
    ['maxLength below minLength',
      { kind: 'teacher-generate', source: { kind: 'local', path: 't' }, prompts: 'p', output: 'o', filters: { minLength: 10, maxLength: 5 } },
      'examples/x.json: filters.maxLength: must be ≥ minLength'],
    ['student init', { ...minimalDistill, student: { path: 's', init: 'zeros' } },
      "examples/x.json: student.init: matches none of the allowed forms: (1) must be one of 'pretrained', 'random' (got 'zeros'); (2) expected object, got string"],
  ];
  it.each(cases)('%s', (_name, json, message) => {
    const err = errorOf(json);
    expect(err.message).toBe(message);
    expect(err.source).toBe('examples/x.json');
  });

  it('lists every failing field, one per line', () => {
    const err = errorOf(withStage({ loss: { alpha: 2, beta: 3 }, stop: { steps: 0 } }));
    expect(err.problems.map((p) => p.path)).toEqual(['stages.0.loss.beta', 'stages.0.loss.alpha', 'stages.0.stop.steps']);
    expect(err.message.split('\n')).toHaveLength(3);
  });

  it('names the line of a JSON syntax error', () => {
    expect(() => parseJobSpecText('{\n  "kind": "export",\n  oops\n}', 'a.json')).toThrow(/^a\.json: invalid JSON at line 3/);
  });
});

describe('JSON Schema', () => {
  // After changing a schema: UPDATE_SCHEMAS=1 npx vitest run test/core/schema.test.ts
  it('matches the committed schemas/job-spec.schema.json', () => {
    const file = new URL('../../schemas/job-spec.schema.json', import.meta.url);
    if (process.env.UPDATE_SCHEMAS) writeFileSync(file, jobSpecJsonSchemaText());
    const committed = readFileSync(file, 'utf8');
    expect(committed, 'schemas/job-spec.schema.json is stale: rerun with UPDATE_SCHEMAS=1').toBe(jobSpecJsonSchemaText());
  });

  it('describes every field, since the UI builds its form from the descriptions', () => {
    const missing: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${path}[${i}]`));
      if (typeof node !== 'object' || node === null) return;
      const obj = node as Record<string, unknown>;
      const props = obj.properties as Record<string, Record<string, unknown>> | undefined;
      for (const [key, sub] of Object.entries(props ?? {}))
        if (typeof sub.description !== 'string' || sub.description.length === 0) missing.push(`${path}.${key}`);
      for (const [key, sub] of Object.entries(obj)) walk(sub, `${path}/${key}`);
    };
    walk(jobSpecJsonSchema(), '');
    expect(missing).toEqual([]);
  });
});

/**
 * Does training on the quantization grid (QAT) lose less accuracy than rounding a trained student to
 * it afterwards (PTQ)? Measured with the torch worker on CPU on the demo task (demo teacher → demo
 * student, arith test split): teacher-forced next-token accuracy over the answer tokens
 * (bench/token_accuracy.py), and greedy exact match of whole answers when --exact-match N > 0:
 *
 *   node bin/run-ts.mjs bench/qat-vs-ptq.ts [--config examples/demo-qat-int4.json] [--seeds 1,2,3]
 *        [--steps N] [--micro-batch N] [--limit N] [--exact-match N] [--work /tmp/retort-qat-vs-ptq]
 *        [--out FILE.md] [--report]
 *
 * Per seed, the config's distill job runs twice from the same committed student — once without its
 * `qat` section (fp32) and once with it, side by side — and three models are scored: the fp32 student, the fp32
 * student rounded to the grid (PTQ), and the QAT student rounded to the same grid (src/core/quant.ts,
 * the grid the ONNX export writes). The worker gets one thread each (OMP_NUM_THREADS=1 unless set).
 * Each seed's row is kept in WORK/seed-N/row.json, so seeds can run as separate processes side by
 * side; `--report` only prints the table of the rows already measured.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { lastCheckpoint, runJob, DATA_DIR, type EvalResult } from '../src/cli/demo.ts';
import { NodeFileSource } from '../src/cli/node-files.ts';
import { fakeQuantize, gridFor, isQuantizedWeight } from '../src/core/quant.ts';
import { Checkpoint, writeSafetensors, type TensorToWrite } from '../src/core/safetensors.ts';
import { parseJobSpec } from '../src/core/schema/index.ts';
import type { QatConfig } from '../src/core/schema/adapters.ts';
import type { DistillConfig as DistillSpec } from '../src/core/schema/distill.ts';
import { findPython } from '../src/runner/executor.ts';
import { prepareJobData } from '../src/runner/prepare-data.ts';
import { RESULT_FILE, stageDataFile } from '../src/runner/protocol.ts';

const MODEL_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];

interface Score {
  tokenAccuracy: number;
  crossEntropy: number;
  /** Greedy exact match on the first --exact-match problems; null when not measured. */
  exactMatch: number | null;
}

type Model = 'fp32' | 'ptq' | 'qat';

interface Row {
  seed: number;
  scores: Record<Model, Score>;
  trainSeconds: { fp32: number; qat: number };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', default: 'examples/demo-qat-int4.json' },
      seeds: { type: 'string', default: '1,2,3' },
      steps: { type: 'string' },
      'micro-batch': { type: 'string' },
      report: { type: 'boolean', default: false },
      limit: { type: 'string', default: '200' },
      'exact-match': { type: 'string', default: '0' },
      work: { type: 'string', default: '/tmp/retort-qat-vs-ptq' },
      out: { type: 'string' },
    },
  });
  process.env.OMP_NUM_THREADS ??= '1';
  const root = process.cwd();
  const python = findPython();
  const base = await loadConfig(root, values.config);
  if (!base.qat) throw new Error(`${values.config}: has no "qat" section to compare against`);
  const qat = base.qat;
  const steps = values.steps === undefined ? undefined : Number(values.steps);
  const microBatch = values['micro-batch'] === undefined ? base.batch.microBatch : Number(values['micro-batch']);
  const limit = Number(values.limit);
  const exactMatch = Number(values['exact-match']);
  const recipe: DistillSpec = {
    ...base,
    batch: { ...base.batch, microBatch },
    stages: base.stages.map((s) => (steps ? { ...s, stop: { ...s.stop, steps } } : s)),
  };
  const rows: Row[] = [];
  for (const seed of values.seeds.split(',').map(Number)) {
    const work = join(values.work, `seed-${seed}`);
    if (values.report) {
      rows.push(JSON.parse(await readFile(join(work, 'row.json'), 'utf8')) as Row);
      continue;
    }
    const spec = (withQat: boolean): DistillSpec => ({ ...recipe, seed, qat: withQat ? qat : undefined });
    const testRows = await tokenizedTestRows(root, recipe, join(work, 'test-rows'));
    const [fp32Seconds, qatSeconds] = await Promise.all([
      runJob(python, root, join(work, 'train-fp32'), spec(false)),
      runJob(python, root, join(work, 'train-qat'), spec(true)),
    ]);
    const fp32Dir = await lastCheckpoint(join(work, 'train-fp32'));
    const models: Record<Model, string> = {
      fp32: fp32Dir,
      ptq: await roundToGrid(root, fp32Dir, join(work, 'ptq-model'), qat),
      qat: await roundToGrid(root, await lastCheckpoint(join(work, 'train-qat')), join(work, 'qat-model'), qat),
    };
    const scores = {} as Record<Model, Score>;
    for (const [name, dir] of Object.entries(models) as [Model, string][]) {
      const t = tokenScores(python, root, dir, testRows, limit);
      const em = exactMatch > 0 ? await evaluate(python, root, dir, join(work, `eval-${name}`), exactMatch) : null;
      scores[name] = { tokenAccuracy: t.token_accuracy, crossEntropy: t.cross_entropy, exactMatch: em };
    }
    const row: Row = { seed, scores, trainSeconds: { fp32: fp32Seconds, qat: qatSeconds } };
    rows.push(row);
    await writeFile(join(work, 'row.json'), JSON.stringify(row, null, 2) + '\n');
    console.log(`seed ${seed}: token accuracy fp32 ${pct(scores.fp32.tokenAccuracy)}, PTQ ${pct(scores.ptq.tokenAccuracy)}, QAT ${pct(scores.qat.tokenAccuracy)}`);
  }
  const table = markdownTable(rows, qat, recipe, values.config, limit);
  console.log('\n' + table);
  if (values.out) await writeFile(values.out, table + '\n');
}

/** The example config with its paths made relative to the repository root, as the runner takes them. */
async function loadConfig(root: string, file: string): Promise<DistillSpec> {
  const raw = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  const dir = dirname(resolve(root, file));
  const fix = (p: string) => relative(root, resolve(dir, p));
  const spec = parseJobSpec(raw, file);
  if (spec.kind !== 'distill') throw new Error(`${file}: kind is "${spec.kind}", expected "distill"`);
  return {
    ...spec,
    teacher: { ...spec.teacher, path: fix(spec.teacher.path) },
    student: { ...spec.student, path: fix(spec.student.path) },
    stages: spec.stages.map((s) => ({ ...s, data: { ...s.data, path: fix(s.data.path) } })),
  };
}

/** A copy of the model folder whose decoder projections hold their grid values (dequantized, f32). */
async function roundToGrid(root: string, from: string, to: string, qat: QatConfig): Promise<string> {
  await mkdir(to, { recursive: true });
  for (const f of MODEL_FILES) await copyFile(join(from, f), join(to, f));
  const ckpt = await Checkpoint.open(new NodeFileSource(root), relative(root, from));
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, entry] of ckpt.tensors) {
    const data = await ckpt.float32(name);
    const q = isQuantizedWeight(name) ? fakeQuantize(data, gridFor(qat, entry.shape, name)) : data;
    tensors[name] = { dtype: 'F32', shape: [...entry.shape], data: q };
  }
  await writeFile(join(to, 'model.safetensors'), writeSafetensors(tensors));
  return to;
}

/** The test split tokenized as the runner tokenizes training data (one conversation a row). */
async function tokenizedTestRows(root: string, recipe: DistillSpec, dir: string): Promise<string> {
  const stage = recipe.stages[0];
  const spec: DistillSpec = { ...recipe, stages: [{ ...stage, data: { ...stage.data, path: `${DATA_DIR}/test.jsonl`, packing: false } }] };
  await prepareJobData(spec, dir, root);
  return join(dir, stageDataFile(0));
}

function tokenScores(python: string, root: string, model: string, rows: string, limit: number): { token_accuracy: number; cross_entropy: number } {
  const out = execFileSync(python, [join(root, 'bench/token_accuracy.py'), model, rows, '--limit', String(limit)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { token_accuracy: number; cross_entropy: number };
}

async function evaluate(python: string, root: string, model: string, jobDir: string, limit?: number): Promise<number> {
  const spec = parseJobSpec(
    { kind: 'eval', model: { path: relative(root, model) }, dataset: `${DATA_DIR}/test.jsonl`, ...(limit ? { limit } : {}), sampling: { temperature: 0, maxNewTokens: 160 } },
    'qat-vs-ptq eval spec',
  );
  await runJob(python, root, jobDir, spec);
  const result = JSON.parse(await readFile(join(jobDir, RESULT_FILE), 'utf8')) as EvalResult;
  return result.metrics.accuracy;
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

function markdownTable(rows: Row[], qat: QatConfig, spec: DistillSpec, config: string, limit: number): string {
  const grid = qat.bits === 4 ? `int${qat.bits}, groups of ${qat.groupSize}` : `int8, ${qat.perChannel ? 'per channel' : 'per tensor'}`;
  const steps = spec.stages.reduce((n, s) => n + s.stop.steps, 0);
  const acc = (r: Row, m: Model) => r.scores[m].tokenAccuracy;
  const mean = (m: Model) => rows.reduce((s, r) => s + acc(r, m), 0) / rows.length;
  const em = rows.some((r) => r.scores.fp32.exactMatch !== null);
  const emCell = (r: Row) => (em ? ` ${(['fp32', 'ptq', 'qat'] as const).map((m) => pct(r.scores[m].exactMatch ?? 0)).join(' / ')} |` : '');
  const ce = (r: Row) => (['fp32', 'ptq', 'qat'] as const).map((m) => r.scores[m].crossEntropy.toFixed(4)).join(' / ');
  return [
    `Next-token accuracy on the answer tokens of the first ${limit} test problems, teacher-forced ` +
      `(${grid}, ${qat.symmetric ? 'symmetric' : 'asymmetric'}; ${steps} steps of ${spec.batch.microBatch} rows, ${config})`,
    '',
    `| seed | fp32 acc | PTQ acc | QAT acc | PTQ drop | QAT drop | CE fp32 / PTQ / QAT (nats) |${em ? ' exact match fp32 / PTQ / QAT |' : ''}`,
    `|---:|---:|---:|---:|---:|---:|---:|${em ? '---:|' : ''}`,
    ...rows.map((r) => `| ${r.seed} | ${pct(acc(r, 'fp32'))} | ${pct(acc(r, 'ptq'))} | ${pct(acc(r, 'qat'))} | ${pct(acc(r, 'fp32') - acc(r, 'ptq'))} | ${pct(acc(r, 'fp32') - acc(r, 'qat'))} | ${ce(r)} |${emCell(r)}`),
    `| mean | ${pct(mean('fp32'))} | ${pct(mean('ptq'))} | ${pct(mean('qat'))} | ${pct(mean('fp32') - mean('ptq'))} | ${pct(mean('fp32') - mean('qat'))} | |${em ? ' |' : ''}`,
  ].join('\n');
}

await main();

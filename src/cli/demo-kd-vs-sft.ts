/**
 * `retort demo-kd-vs-sft`: the demo's headline measurement. For each seed, the committed student is
 * trained twice by the torch worker with the same data, steps, batch and learning rate — once by
 * plain SFT on the dataset's labels, once by logit distillation from the committed teacher — and
 * both are scored by the worker's eval job (greedy exact match on the test split). The table goes
 * into the student's model card (a generated section) and into kd-vs-sft.json beside it.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { kdVsSftSection, type KdVsSftReport, withKdVsSftSection } from '../core/demo/model-card.ts';
import { parseJobSpec } from '../core/schema/index.ts';
import { findPython } from '../runner/executor.ts';
import { RESULT_FILE } from '../runner/protocol.ts';
import { num, parseCommand } from './args.ts';
import { DATA_DIR, type EvalResult, lastCheckpoint, runJob, STUDENT_DIR, TEACHER_DIR, writeJson } from './demo.ts';

/**
 * The student's recipe, for both arms: only the loss differs. KD is the seeds' logit KD (forward
 * KL at T = 2, α = 0.7 on the soft term, the rest cross-entropy on the labels).
 */
export const STUDENT_RECIPE = {
  steps: 100,
  microBatch: 8,
  lr: 3e-3,
  warmupSteps: 50,
  weightDecay: 0.1,
  alpha: 0.7,
  temperature: 2,
  seeds: [1, 2, 3],
} as const;

export const KD_VS_SFT_FILE = 'kd-vs-sft.json';
const ARMS = ['sft', 'kd'] as const;
type Arm = (typeof ARMS)[number];

const HELP = `usage: retort demo-kd-vs-sft [options]

Trains ${STUDENT_DIR} from the committed weights by SFT on the labels and by logit KD from
${TEACHER_DIR} (same steps, batch, learning rate and seed), scores both with the torch worker's
eval job (greedy exact match on ${DATA_DIR}/test.jsonl), and writes the table to the student's model
card and ${KD_VS_SFT_FILE}. CPU is enough: a run is minutes on an idle CPU core.
  --steps N          optimizer steps per run (default ${STUDENT_RECIPE.steps})
  --seeds a,b,c      training seeds (default ${STUDENT_RECIPE.seeds.join(',')})
  --batch N          packed rows of 128 tokens per step (default ${STUDENT_RECIPE.microBatch})
  --lr X             peak learning rate (default ${STUDENT_RECIPE.lr})
  --eval-limit N     score only the first N test problems (default all)
  --arms sft,kd      which runs to make (default both)
  --parallel N       worker processes at once (default 1; set OMP_NUM_THREADS to share the cores)
  --no-card          print the table only; leave the model card alone
  --work DIR         job folders (default .retort/demo-kd-vs-sft)`;

interface Options {
  steps: number;
  seeds: number[];
  lr: number;
  batch: number;
  evalLimit?: number;
  arms: Arm[];
  parallel: number;
  card: boolean;
  work: string;
}

function parseOptions(argv: string[]): Options | null {
  const o = parseCommand(
    'demo-kd-vs-sft',
    argv,
    {
      steps: { type: 'string' },
      seeds: { type: 'string' },
      lr: { type: 'string' },
      batch: { type: 'string' },
      'eval-limit': { type: 'string' },
      arms: { type: 'string' },
      parallel: { type: 'string' },
      'no-card': { type: 'boolean' },
      work: { type: 'string' },
    },
    HELP,
  );
  if (!o) return null;
  const positive = (v: string, name: string) => {
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < 1) throw new Error(`${name}: expected a positive integer, got "${v}"`);
    return x;
  };
  const arms = (o.arms ?? ARMS.join(',')).split(',').map((a) => {
    if (!(ARMS as readonly string[]).includes(a)) throw new Error(`--arms: expected sft and/or kd, got "${a}"`);
    return a as Arm;
  });
  return {
    steps: o.steps === undefined ? STUDENT_RECIPE.steps : positive(o.steps, '--steps'),
    seeds: o.seeds === undefined ? [...STUDENT_RECIPE.seeds] : o.seeds.split(',').map((s) => positive(s, '--seeds')),
    lr: num(o.lr, '--lr', STUDENT_RECIPE.lr),
    batch: o.batch === undefined ? STUDENT_RECIPE.microBatch : positive(o.batch, '--batch'),
    evalLimit: o['eval-limit'] === undefined ? undefined : positive(o['eval-limit'], '--eval-limit'),
    arms,
    parallel: o.parallel === undefined ? 1 : positive(o.parallel, '--parallel'),
    card: !o['no-card'],
    work: resolve(o.work ?? '.retort/demo-kd-vs-sft'),
  };
}

/** One arm's distill job: the student from its committed weights, the loss the only difference. */
export function studentTrainSpec(arm: Arm, seed: number, steps: number, lr: number, microBatch: number): unknown {
  const r = STUDENT_RECIPE;
  const loss =
    arm === 'kd'
      ? { divergence: 'forward-kl', alpha: r.alpha, temperature: { kind: 'constant', value: r.temperature }, teacherTargets: 'online' }
      : { divergence: 'none', alpha: 0, teacherTargets: 'none' };
  return {
    kind: 'distill',
    teacher: { path: TEACHER_DIR },
    student: { path: STUDENT_DIR },
    seed,
    stages: [
      {
        name: arm,
        data: { path: `${DATA_DIR}/train.jsonl`, format: 'chat', maxSeqLen: 128, truncation: 'error', packing: true },
        loss,
        stop: { steps },
      },
    ],
    optimizer: {
      lr,
      betas: [0.9, 0.98],
      weightDecay: r.weightDecay,
      gradClip: 1,
      schedule: { kind: 'cosine', warmupSteps: Math.min(r.warmupSteps, Math.floor(steps / 10)), minLrRatio: 0.05 },
    },
    batch: { microBatch, gradAccumulation: 1 },
    checkpoint: { everySteps: steps, keepLast: 1 },
    // One evaluation at the end on the val split: cross-entropy on its labels ('hard'), comparable
    // between the arms even where exact match is still near zero.
    eval: { everySteps: steps, dataset: `${DATA_DIR}/val.jsonl`, maxSamples: 200 },
  };
}

/** Greedy exact match of a model folder on the test split, by the worker's eval job. */
async function evaluate(python: string, root: string, jobDir: string, model: string, limit: number | undefined): Promise<EvalResult['metrics']> {
  const spec = parseJobSpec(
    {
      kind: 'eval',
      model: { path: model },
      dataset: `${DATA_DIR}/test.jsonl`,
      ...(limit ? { limit } : {}),
      sampling: { temperature: 0, maxNewTokens: 160 },
    },
    'demo eval spec',
  );
  await runJob(python, root, jobDir, spec);
  return (JSON.parse(await readFile(join(jobDir, RESULT_FILE), 'utf8')) as EvalResult).metrics;
}

export async function demoKdVsSftCommand(argv: string[]): Promise<number> {
  const opts = parseOptions(argv);
  if (!opts) return 0;
  const root = process.cwd();
  const python = findPython();
  const report: KdVsSftReport = {
    steps: opts.steps,
    batch: opts.batch,
    lr: opts.lr,
    alpha: STUDENT_RECIPE.alpha,
    temperature: STUDENT_RECIPE.temperature,
    problems: 0,
    teacherAccuracy: await committedTeacherAccuracy(),
    before: 0,
    rows: [],
    command: commandLine(opts),
  };
  // Every run is a separate worker process (one thread each when OMP_NUM_THREADS=1): --parallel N
  // runs N at once, which on a many-core CPU is most of the wall time saved.
  const tasks: (() => Promise<void>)[] = [
    async () => {
      const before = await evaluate(python, root, join(opts.work, 'before-eval'), STUDENT_DIR, opts.evalLimit);
      report.before = before.accuracy;
      report.problems = before.problems;
      console.log(`untrained student: ${(100 * before.accuracy).toFixed(1)}% on ${before.problems} problems`);
    },
  ];
  report.rows = opts.seeds.map((seed) => ({ seed }));
  for (const row of report.rows)
    for (const arm of opts.arms)
      tasks.push(async () => {
        const jobDir = join(opts.work, `${arm}-seed${row.seed}`);
        const spec = parseJobSpec(studentTrainSpec(arm, row.seed, opts.steps, opts.lr, opts.batch), `demo ${arm} spec`);
        let valCe = NaN;
        const seconds = await runJob(python, root, jobDir, spec, (e) => {
          if (e.type === 'eval' && e.metrics.hard !== undefined) valCe = e.metrics.hard;
        });
        const ckpt = relative(root, await lastCheckpoint(jobDir));
        const m = await evaluate(python, root, `${jobDir}-eval`, ckpt, opts.evalLimit);
        row[arm] = { accuracy: m.accuracy, valCe };
        console.log(`seed ${row.seed} ${arm}: ${(100 * m.accuracy).toFixed(1)}% exact match, val CE ${valCe.toFixed(4)} after ${opts.steps} steps (${seconds.toFixed(0)} s)`);
      });
  await inParallel(tasks, opts.parallel);
  const section = kdVsSftSection(report);
  console.log(`\n${section}`);
  if (opts.card) {
    await writeJson(join(STUDENT_DIR, KD_VS_SFT_FILE), report);
    const card = join(STUDENT_DIR, 'README.md');
    await writeFile(card, withKdVsSftSection(await readFile(card, 'utf8'), section));
    console.log(`wrote ${card} and ${join(STUDENT_DIR, KD_VS_SFT_FILE)}`);
  }
  return 0;
}

/** Runs the tasks, at most `width` at a time; the first failure rejects once the started ones end. */
async function inParallel(tasks: readonly (() => Promise<void>)[], width: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, lane));
}

/** The teacher card's headline accuracy (measured by demo-models on the same split). */
async function committedTeacherAccuracy(): Promise<number> {
  const card = await readFile(join(TEACHER_DIR, 'README.md'), 'utf8');
  const m = /exact-match accuracy on the test split: ([\d.]+)%/.exec(card);
  if (!m) throw new Error(`${TEACHER_DIR}/README.md: no "exact-match accuracy on the test split" line; rebuild with retort demo-models`);
  return Number(m[1]) / 100;
}

function commandLine(o: Options): string {
  const parts = ['retort demo-kd-vs-sft'];
  if (o.steps !== STUDENT_RECIPE.steps) parts.push(`--steps ${o.steps}`);
  if (o.seeds.join(',') !== STUDENT_RECIPE.seeds.join(',')) parts.push(`--seeds ${o.seeds.join(',')}`);
  if (o.lr !== STUDENT_RECIPE.lr) parts.push(`--lr ${o.lr}`);
  if (o.batch !== STUDENT_RECIPE.microBatch) parts.push(`--batch ${o.batch}`);
  if (o.evalLimit) parts.push(`--eval-limit ${o.evalLimit}`);
  return parts.join(' ');
}

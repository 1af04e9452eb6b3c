/**
 * Issue 8's measurement: each advanced recipe's effect on the demo student's accuracy against plain
 * logit KD, over seeds. Every arm is an example config (examples/demo-*.json) run by the torch
 * worker with the same student, steps, batch and optimizer — only the stages' losses differ (a
 * multi-stage recipe keeps its proportions of the step budget) — then scored by the worker's eval
 * job (greedy exact match on the test split) and, more sensitive at small budgets, teacher-forced on
 * the val split (bench/recipes_val_ce.py: cross-entropy and next-token accuracy on the answers).
 *
 *   node bin/run-ts.mjs bench/recipes-vs-kd.ts [--steps 150] [--seeds 1,2,3] [--eval-limit 200]
 *     [--arms kd,gkd,...] [--parallel 2] [--work .retort/recipes-vs-kd]
 * Writes <work>/results.json and prints a markdown table (mean ± sd per arm).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseJobSpec } from '../src/core/schema/index.ts';
import { findPython } from '../src/runner/executor.ts';
import { RESULT_FILE, stageDataFile } from '../src/runner/protocol.ts';
import { prepareJobData } from '../src/runner/prepare-data.ts';
import { DATA_DIR, type EvalResult, lastCheckpoint, runJob, STUDENT_DIR, TEACHER_DIR } from '../src/cli/demo.ts';
import { STUDENT_RECIPE } from '../src/cli/demo-kd-vs-sft.ts';

/** Arm name → example config. `kd` is the baseline every other arm is compared with. */
const ARMS: Record<string, string> = {
  kd: 'examples/demo-kd.json',
  gkd: 'examples/demo-gkd.json',
  'seq-kd': 'examples/demo-gkd-seqkd.json',
  attention: 'examples/demo-attention.json',
  selective: 'examples/demo-selective.json',
  progressive: 'examples/demo-progressive.json',
  uld: 'examples/demo-cross-tokenizer.json',
};

interface Stage {
  name: string;
  loss: unknown;
  stop: { steps: number };
  lr?: number;
}

function option(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

/** The example's stages on the demo data, steps scaled to `steps` in all; the shared optimizer and batch. */
async function armSpec(arm: string, seed: number, steps: number): Promise<unknown> {
  const example = JSON.parse(await readFile(ARMS[arm], 'utf8')) as { stages: Stage[] };
  const planned = example.stages.reduce((n, s) => n + s.stop.steps, 0);
  const r = STUDENT_RECIPE;
  return {
    kind: 'distill',
    teacher: { path: TEACHER_DIR },
    student: { path: STUDENT_DIR },
    seed,
    stages: example.stages.map((s) => ({
      name: s.name,
      data: { path: `${DATA_DIR}/train.jsonl`, format: 'chat', maxSeqLen: 128, truncation: 'error' },
      loss: s.loss,
      stop: { steps: Math.max(1, Math.round((s.stop.steps / planned) * steps)) },
      ...(s.lr ? { lr: s.lr } : {}),
    })),
    optimizer: {
      lr: r.lr, betas: [0.9, 0.98], weightDecay: r.weightDecay, gradClip: 1,
      schedule: { kind: 'cosine', warmupSteps: Math.min(r.warmupSteps, Math.floor(steps / 10)), minLrRatio: 0.05 },
    },
    batch: { microBatch: r.microBatch, gradAccumulation: 1 },
    checkpoint: { everySteps: 0, keepLast: 1 },
    eval: { everySteps: 0 },
  };
}

/** The val split tokenized as the runner does (a one-stage spec's data), for recipes_val_ce.py. */
async function valRows(root: string, work: string): Promise<string> {
  const spec = parseJobSpec({
    kind: 'distill', teacher: { path: TEACHER_DIR }, student: { path: STUDENT_DIR },
    stages: [{ name: 'val', data: { path: `${DATA_DIR}/val.jsonl`, format: 'chat', maxSeqLen: 128 }, loss: { divergence: 'none', alpha: 0, teacherTargets: 'none' }, stop: { steps: 1 } }],
  }, 'val rows');
  await prepareJobData(spec, join(work, 'val'), root);
  return join(work, 'val', stageDataFile(0));
}

async function runArm(python: string, root: string, work: string, val: string, arm: string, seed: number, steps: number, limit: number) {
  const dir = join(work, `${arm}-seed${seed}`);
  const seconds = await runJob(python, root, join(dir, 'train'), parseJobSpec(await armSpec(arm, seed, steps), `${arm} spec`));
  const model = await lastCheckpoint(join(dir, 'train'));
  const evalSpec = parseJobSpec({
    kind: 'eval', model: { path: model }, dataset: `${DATA_DIR}/test.jsonl`, limit, sampling: { temperature: 0, maxNewTokens: 160 },
  }, 'eval spec');
  await runJob(python, root, join(dir, 'eval'), evalSpec);
  const result = JSON.parse(await readFile(join(dir, 'eval', RESULT_FILE), 'utf8')) as EvalResult;
  const scored = execFileSync(python, ['bench/recipes_val_ce.py', val, model], { env: { ...process.env, PYTHONPATH: join(root, 'src/runner/torch') }, encoding: 'utf8' });
  const { ce, token_acc: tokenAcc } = JSON.parse(scored) as { ce: number; token_acc: number };
  console.log(`${arm} seed ${seed}: exact match ${(100 * result.metrics.accuracy).toFixed(1)}% (${result.metrics.correct}/${result.metrics.problems}), val CE ${ce.toFixed(4)}, val token accuracy ${(100 * tokenAcc).toFixed(1)}%, trained in ${seconds.toFixed(0)} s`);
  return { arm, seed, accuracy: result.metrics.accuracy, problems: result.metrics.problems, ce, tokenAcc, trainSeconds: seconds };
}

function meanSd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

async function main(argv: string[]): Promise<number> {
  const steps = Number(option(argv, 'steps', '150'));
  const seeds = option(argv, 'seeds', '1,2,3').split(',').map(Number);
  const limit = Number(option(argv, 'eval-limit', '200'));
  const arms = option(argv, 'arms', Object.keys(ARMS).join(',')).split(',');
  const parallel = Number(option(argv, 'parallel', '1'));
  const work = resolve(option(argv, 'work', '.retort/recipes-vs-kd'));
  for (const a of arms) if (!ARMS[a]) throw new Error(`--arms: unknown arm "${a}" (known: ${Object.keys(ARMS).join(', ')})`);
  await mkdir(work, { recursive: true });
  const python = findPython();
  const root = process.cwd();
  const val = await valRows(root, work);
  const queue = seeds.flatMap((seed) => arms.map((arm) => ({ arm, seed })));
  const results: Awaited<ReturnType<typeof runArm>>[] = [];
  await Promise.all(Array.from({ length: parallel }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      results.push(await runArm(python, root, work, val, job.arm, job.seed, steps, limit));
      await writeFile(join(work, 'results.json'), JSON.stringify({ steps, seeds, limit, results }, null, 2));
    }
  }));
  console.log(`\n${steps} steps × ${STUDENT_RECIPE.microBatch} sequences; exact match: greedy on the first ${limit} test problems; val: teacher-forced on the 200 val answers\n`);
  console.log('| recipe | exact match | val CE (mean ± sd) | val token acc | per seed (CE) | train s/run |\n|---|---|---|---|---|---|');
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  for (const arm of arms) {
    const rs = results.filter((r) => r.arm === arm).sort((a, b) => a.seed - b.seed);
    const [acc] = meanSd(rs.map((r) => r.accuracy));
    const [ce, ceSd] = meanSd(rs.map((r) => r.ce));
    const [tok, tokSd] = meanSd(rs.map((r) => r.tokenAcc));
    const secs = rs.reduce((a, r) => a + r.trainSeconds, 0) / rs.length;
    console.log(`| ${arm} | ${pct(acc)} | ${ce.toFixed(3)} ± ${ceSd.toFixed(3)} | ${pct(tok)} ± ${(100 * tokSd).toFixed(1)} | ${rs.map((r) => r.ce.toFixed(3)).join(' / ')} | ${secs.toFixed(0)} |`);
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));

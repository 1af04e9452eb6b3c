/**
 * `retort demo-data` and `retort demo-models`: rebuild the embedded demo (public/) from nothing.
 *
 *   demo-data    the arithmetic dataset, public/data/arith/{train,val,test}.jsonl (seeded, exact)
 *   demo-models  the tokenizer; the teacher, trained by the torch worker's own distill job (SFT on
 *                the train split, teacherTargets 'none') and scored by its eval job (greedy
 *                exact-match on the test split); the student, cut from it or drawn at random;
 *                HF-layout folders with model cards, public/models/demo-{teacher,student}/
 *
 * The worker runs as the runner runs it (RETORT_PYTHON, PYTHONPATH=src/runner/torch) on job folders
 * under --work, so the demo is trained by the same code as any user's job.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { arithSplits, MAX_DIFFICULTY, SPLITS, toJsonl } from '../core/demo/arith.ts';
import { cardOfStudent, cardOfTeacher, type TeacherReport } from '../core/demo/model-card.ts';
import {
  demoConfigJson,
  demoGenerationConfigJson,
  demoParams,
  randomTensors,
  STUDENT_DIMS,
  STUDENT_INITS,
  type StudentInit,
  TEACHER_DIMS,
  teacherLayerSources,
  teacherLayersFor,
} from '../core/demo/models.ts';
import { demoTokenizerFiles } from '../core/demo/tokenizer-files.ts';
import { loadHfConfig } from '../core/hf-config.ts';
import { tensorNamesFor } from '../core/model-spec.ts';
import { Checkpoint, type TensorToWrite, writeSafetensors } from '../core/safetensors.ts';
import type { JobSpec } from '../core/schema/job-spec.ts';
import { parseJobSpec } from '../core/schema/index.ts';
import type { TelemetryEvent } from '../core/telemetry.ts';
import { findPython } from '../runner/executor.ts';
import { prepareJobData } from '../runner/prepare-data.ts';
import { parseWorkerLine, RESULT_FILE, SPEC_FILE, WORKER_MODULE } from '../runner/protocol.ts';
import { num, parseCommand } from './args.ts';
import { NodeFileSource } from './node-files.ts';

export const DATA_DIR = 'public/data/arith';
export const TEACHER_DIR = 'public/models/demo-teacher';
export const STUDENT_DIR = 'public/models/demo-student';

/**
 * The committed teacher's recipe. Rows are packed to 128 tokens (1.65 examples each), so a step of
 * 16 rows sees ~26 examples and one pass over the 12,000 train examples is ~450 steps. The model
 * copies digits badly for the first few hundred steps, then learns to find them (the loss falls
 * from ~1 to ~0.05 by step 1,000); the rest makes every carry exact: 2,000 steps gave 80% exact
 * match on the test split, 7,000 give the accuracy in the model card. lr 3e-3 is high for an LM but
 * right for a few hundred thousand parameters from scratch.
 */
export const TEACHER_RECIPE = { steps: 7000, microBatch: 16, lr: 3e-3, warmupSteps: 100, weightDecay: 0.1, seed: 42 } as const;

// ---------------------------------------------------------------------------------------------
// demo-data

const DATA_HELP = `usage: retort demo-data [--out DIR] [--check]

Writes the demo's arithmetic dataset (seeded, byte-for-byte reproducible) to DIR (default ${DATA_DIR}):
train.jsonl, val.jsonl, test.jsonl in chat format with "answer" and "difficulty".
  --check   regenerate in memory and compare with DIR's files instead of writing (exit 1 if they differ)`;

export interface DataFileInfo {
  file: string;
  records: number;
  bytes: number;
  sha256: string;
}

function sha256(bytes: string | Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The dataset's files, as bytes, in memory. */
export function demoDataFiles(): Map<string, string> {
  const splits = arithSplits();
  return new Map(SPLITS.map((s) => [`${s.name}.jsonl`, toJsonl(splits[s.name])]));
}

export async function writeDemoData(outDir: string): Promise<DataFileInfo[]> {
  await mkdir(outDir, { recursive: true });
  const infos: DataFileInfo[] = [];
  for (const [name, text] of demoDataFiles()) {
    const file = join(outDir, name);
    await writeFile(file, text);
    infos.push({ file, records: text.split('\n').length - 1, bytes: Buffer.byteLength(text), sha256: sha256(text) });
  }
  return infos;
}

export async function demoDataCommand(argv: string[]): Promise<number> {
  const o = parseCommand('demo-data', argv, { out: { type: 'string' }, check: { type: 'boolean' } }, DATA_HELP);
  if (!o) return 0;
  const outDir = o.out ?? DATA_DIR;
  if (o.check) {
    let same = true;
    for (const [name, text] of demoDataFiles()) {
      const file = join(outDir, name);
      const have = await readFile(file, 'utf8').catch(() => null);
      const ok = have === text;
      same &&= ok;
      console.log(`${file}: ${have === null ? 'missing' : ok ? 'up to date' : 'DIFFERS from the generator'}  sha256 ${sha256(text)}`);
    }
    return same ? 0 : 1;
  }
  for (const f of await writeDemoData(outDir)) console.log(`${f.file}: ${f.records} records, ${f.bytes} bytes, sha256 ${f.sha256}`);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// demo-models

const MODELS_HELP = `usage: retort demo-models [options]

Rebuilds the demo models under public/models/: writes the tokenizer, trains the teacher with the
torch worker (SFT on ${DATA_DIR}/train.jsonl), measures its greedy exact-match accuracy on the test
split, and writes the student. Runs on CPU (RETORT_PYTHON, else the system python3 with torch); CUDA
is used when present.
  --student-init random|teacher-layers   how the student starts (default teacher-layers):
                         teacher-layers  ${STUDENT_DIMS['teacher-layers'].layers} of the teacher's ${TEACHER_DIMS.layers} layers, same width
                         random          narrower and shallower, drawn at random (seeded)
  --student-only         keep the committed teacher; rewrite only the student
  --steps N              teacher optimizer steps (default ${TEACHER_RECIPE.steps})
  --batch N              sequences per step (default ${TEACHER_RECIPE.microBatch})
  --lr X                 peak learning rate (default ${TEACHER_RECIPE.lr})
  --seed N               training seed (default ${TEACHER_RECIPE.seed})
  --eval-limit N         score only the first N test problems (default all)
  --work DIR             job folders (default .retort/demo-models)`;

interface ModelsOptions {
  studentInit: StudentInit;
  studentOnly: boolean;
  steps: number;
  batch: number;
  lr: number;
  seed: number;
  evalLimit?: number;
  work: string;
}

function parseModelsOptions(argv: string[]): ModelsOptions | null {
  const o = parseCommand(
    'demo-models',
    argv,
    {
      'student-init': { type: 'string' },
      'student-only': { type: 'boolean' },
      steps: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      seed: { type: 'string' },
      'eval-limit': { type: 'string' },
      work: { type: 'string' },
    },
    MODELS_HELP,
  );
  if (!o) return null;
  const init = o['student-init'] ?? 'teacher-layers';
  if (!(STUDENT_INITS as readonly string[]).includes(init)) throw new Error(`--student-init: expected ${STUDENT_INITS.join(' or ')}, got "${init}"\n\n${MODELS_HELP}`);
  const int = (v: string | undefined, name: string, fallback: number) => {
    const x = num(v, name, fallback);
    if (!Number.isSafeInteger(x) || x < 1) throw new Error(`${name}: expected a positive integer, got "${v}"`);
    return x;
  };
  return {
    studentInit: init as StudentInit,
    studentOnly: o['student-only'] ?? false,
    steps: int(o.steps, '--steps', TEACHER_RECIPE.steps),
    batch: int(o.batch, '--batch', TEACHER_RECIPE.microBatch),
    lr: num(o.lr, '--lr', TEACHER_RECIPE.lr),
    seed: int(o.seed, '--seed', TEACHER_RECIPE.seed),
    evalLimit: o['eval-limit'] === undefined ? undefined : int(o['eval-limit'], '--eval-limit', 1),
    work: resolve(o.work ?? '.retort/demo-models'),
  };
}

export async function demoModelsCommand(argv: string[]): Promise<number> {
  const opts = parseModelsOptions(argv);
  if (!opts) return 0;
  const root = process.cwd();
  const t0 = Date.now();

  // The data the teacher learns from must be the committed, reproducible one.
  for (const [name, text] of demoDataFiles()) {
    const file = join(DATA_DIR, name);
    if ((await readFile(file, 'utf8').catch(() => null)) !== text) {
      console.log(`${file}: missing or stale; regenerating ${DATA_DIR}`);
      await writeDemoData(DATA_DIR);
      break;
    }
  }

  if (!opts.studentOnly) {
    const report = await buildTeacher(root, opts);
    console.log(`teacher: ${report.params.toLocaleString('en-US')} parameters, exact-match ${(100 * report.accuracy).toFixed(2)}% on ${report.problems} test problems`);
  }
  await buildStudent(root, opts.studentInit);
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}

export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, JSON.stringify(value, null, 2) + '\n');
}

/** tokenizer.json, tokenizer_config.json and generation_config.json into `dir`. */
async function writeTokenizerFiles(dir: string): Promise<void> {
  const files = demoTokenizerFiles();
  await mkdir(dir, { recursive: true });
  await writeJson(join(dir, 'tokenizer.json'), files['tokenizer.json']);
  await writeJson(join(dir, 'tokenizer_config.json'), files['tokenizer_config.json']);
  await writeJson(join(dir, 'generation_config.json'), demoGenerationConfigJson());
}

// ---- the teacher ---------------------------------------------------------------------------------

async function buildTeacher(root: string, opts: ModelsOptions): Promise<TeacherReport> {
  const python = findPython();
  const initDir = join(opts.work, 'teacher-init');
  await rm(opts.work, { recursive: true, force: true });
  await writeTokenizerFiles(initDir);
  await writeJson(join(initDir, 'config.json'), demoConfigJson(TEACHER_DIMS));

  const trainDir = join(opts.work, 'teacher-train');
  const spec = parseJobSpec(teacherTrainSpec(relative(root, initDir), opts), 'demo teacher spec');
  const trainSeconds = await runJob(python, root, trainDir, spec);
  const last = await lastCheckpoint(trainDir);
  console.log(`teacher trained in ${trainSeconds.toFixed(0)} s; copying ${relative(root, last)} to ${TEACHER_DIR}`);

  await rm(TEACHER_DIR, { recursive: true, force: true });
  await writeTokenizerFiles(TEACHER_DIR);
  await writeJson(join(TEACHER_DIR, 'config.json'), demoConfigJson(TEACHER_DIMS));
  await copyFile(join(last, 'model.safetensors'), join(TEACHER_DIR, 'model.safetensors'));

  const evalDir = join(opts.work, 'teacher-eval');
  const evalSpec = parseJobSpec(
    {
      kind: 'eval',
      model: { path: TEACHER_DIR },
      dataset: `${DATA_DIR}/test.jsonl`,
      ...(opts.evalLimit ? { limit: opts.evalLimit } : {}),
      sampling: { temperature: 0, maxNewTokens: 160 },
    },
    'demo eval spec',
  );
  await runJob(python, root, evalDir, evalSpec);
  const report = await teacherReport(evalDir, opts, trainSeconds);
  await writeFile(join(TEACHER_DIR, 'README.md'), cardOfTeacher(report));
  return report;
}

/** Plain SFT on the train split: cross-entropy on the assistant tokens, no teacher, from random weights. */
function teacherTrainSpec(initDir: string, opts: ModelsOptions): unknown {
  return {
    kind: 'distill',
    teacher: { path: initDir },
    student: { path: initDir, init: 'random' },
    seed: opts.seed,
    stages: [
      {
        name: 'sft',
        data: { path: `${DATA_DIR}/train.jsonl`, format: 'chat', maxSeqLen: 128, truncation: 'error', packing: true },
        loss: { divergence: 'none', alpha: 0, teacherTargets: 'none' },
        stop: { steps: opts.steps },
      },
    ],
    optimizer: {
      lr: opts.lr,
      betas: [0.9, 0.98],
      weightDecay: TEACHER_RECIPE.weightDecay,
      gradClip: 1,
      schedule: { kind: 'cosine', warmupSteps: Math.min(TEACHER_RECIPE.warmupSteps, Math.floor(opts.steps / 10)), minLrRatio: 0.05 },
    },
    batch: { microBatch: opts.batch, gradAccumulation: 1 },
    checkpoint: { everySteps: 500, keepLast: 1 },
    eval: { everySteps: 0 },
  };
}

/** Tokenizes the job's data as the runner does, runs the worker on it, prints progress (and hands `onEvent` every event); seconds taken. */
export async function runJob(python: string, root: string, jobDir: string, spec: JobSpec, onEvent?: (e: TelemetryEvent) => void): Promise<number> {
  await rm(jobDir, { recursive: true, force: true });
  await mkdir(jobDir, { recursive: true });
  await writeJson(join(jobDir, SPEC_FILE), spec);
  for (const note of (await prepareJobData(spec, jobDir, root)).notes) console.log(`${spec.kind}: ${note}`);
  const t0 = Date.now();
  const total = spec.kind === 'distill' ? spec.stages.reduce((n, s) => n + s.stop.steps, 0) : 0;
  let failure: string | null = null;
  const code = await new Promise<number>((done, fail) => {
    const child = spawn(python, ['-m', WORKER_MODULE, '--job', jobDir], {
      cwd: root,
      env: { ...process.env, PYTHONPATH: join(root, 'src/runner/torch') },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        const event = parseWorkerLine(line, { job: 'demo', seq: 0, time: 0 });
        onEvent?.(event);
        const f = showEvent(event, total, t0);
        if (f) failure = f;
      }
    });
    child.on('error', (e) => fail(new Error(`cannot start ${python}: ${e.message} (set RETORT_PYTHON to a python3 with torch)`)));
    child.on('close', (c, signal) => done(c ?? (signal ? 128 : 1)));
  });
  if (code !== 0) throw new Error(`the torch worker's ${spec.kind} job failed (exit ${code})${failure ? `: ${failure}` : ''}; job folder ${jobDir}`);
  return (Date.now() - t0) / 1000;
}

/** One progress line per interesting event; returns the message of a fatal error. */
function showEvent(e: TelemetryEvent, total: number, t0: number): string | null {
  const seconds = (Date.now() - t0) / 1000;
  switch (e.type) {
    case 'step':
      if (e.step % 50 === 0 || e.step === total - 1) {
        const eta = e.step > 0 ? (seconds / e.step) * (total - e.step) : 0;
        const rate = e.metrics.tokens_per_s ?? 0;
        console.log(`step ${String(e.step).padStart(5)}/${total}  loss ${e.loss.toFixed(4)}  lr ${(e.metrics.lr ?? 0).toExponential(2)}  ${rate.toFixed(0)} tok/s  ETA ${eta.toFixed(0)} s`);
      }
      return null;
    case 'progress':
      if (e.done === e.total || e.done % 100 === 0) console.log(`${e.what}: ${e.done}/${e.total}`);
      return null;
    case 'log': // the worker writes its logs to stderr too, which we pass through
      return null;
    case 'error':
      console.error(`worker error: ${e.message}${e.where ? ` (${e.where})` : ''}`);
      return e.recoverable ? null : e.message;
    default:
      return null;
  }
}

export async function lastCheckpoint(jobDir: string): Promise<string> {
  const dir = join(jobDir, 'checkpoints');
  const steps = (await readdir(dir)).map((n) => /^step-(\d+)$/.exec(n)).filter((m) => m !== null).map((m) => Number(m[1]));
  if (steps.length === 0) throw new Error(`${dir}: the training job wrote no checkpoint`);
  return join(dir, `step-${Math.max(...steps)}`);
}

export interface EvalResult {
  metrics: { accuracy: number; problems: number; correct: number };
  problems: { line: number; score: number }[];
}

async function teacherReport(evalDir: string, opts: ModelsOptions, trainSeconds: number): Promise<TeacherReport> {
  const result = JSON.parse(await readFile(join(evalDir, RESULT_FILE), 'utf8')) as EvalResult;
  const test = (await readFile(join(DATA_DIR, 'test.jsonl'), 'utf8')).split('\n');
  const byDifficulty = Array.from({ length: MAX_DIFFICULTY }, () => ({ correct: 0, total: 0 }));
  for (const p of result.problems) {
    const d = (JSON.parse(test[p.line - 1]) as { difficulty: number }).difficulty;
    byDifficulty[d - 1].total++;
    byDifficulty[d - 1].correct += p.score;
  }
  const bytes = (await stat(join(TEACHER_DIR, 'model.safetensors'))).size;
  return {
    dims: TEACHER_DIMS,
    params: demoParams(TEACHER_DIMS),
    bytes,
    accuracy: result.metrics.accuracy,
    problems: result.metrics.problems,
    byDifficulty,
    steps: opts.steps,
    batch: opts.batch,
    lr: opts.lr,
    seed: opts.seed,
    trainSeconds,
    machine: describeMachine(findPython()),
    command: commandLine(opts),
  };
}

/** What the worker trains on (it takes CUDA when torch sees it), for the model card. */
function describeMachine(python: string): string {
  const probe = 'import torch; print(torch.__version__); print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")';
  let torchVersion = '?';
  let gpu = '';
  try {
    [torchVersion = '?', gpu = ''] = execFileSync(python, ['-c', probe], { encoding: 'utf8', timeout: 60_000 }).split('\n');
  } catch {
    // the card still says where the CPU time went
  }
  const cpu = `${cpus().length} CPU cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'})`;
  return `${gpu ? `one ${gpu}` : cpu}, torch ${torchVersion}`;
}

function commandLine(opts: ModelsOptions): string {
  const parts = ['retort demo-models'];
  if (opts.steps !== TEACHER_RECIPE.steps) parts.push(`--steps ${opts.steps}`);
  if (opts.batch !== TEACHER_RECIPE.microBatch) parts.push(`--batch ${opts.batch}`);
  if (opts.lr !== TEACHER_RECIPE.lr) parts.push(`--lr ${opts.lr}`);
  if (opts.seed !== TEACHER_RECIPE.seed) parts.push(`--seed ${opts.seed}`);
  if (opts.studentInit !== 'teacher-layers') parts.push(`--student-init ${opts.studentInit}`);
  return parts.join(' ');
}

// ---- the student ---------------------------------------------------------------------------------

const STUDENT_SEED = 7;

async function buildStudent(root: string, init: StudentInit): Promise<void> {
  const src = new NodeFileSource(root);
  const teacherSpec = await loadHfConfig(src, TEACHER_DIR);
  const dims = STUDENT_DIMS[init];
  await rm(STUDENT_DIR, { recursive: true, force: true });
  await writeTokenizerFiles(STUDENT_DIR);
  await writeJson(join(STUDENT_DIR, 'config.json'), demoConfigJson(dims));
  const studentSpec = await loadHfConfig(src, STUDENT_DIR);
  let tensors: Record<string, TensorToWrite>;
  let layers: number[] | null = null;
  if (init === 'random') {
    tensors = randomTensors(tensorNamesFor(studentSpec), STUDENT_SEED);
  } else {
    layers = teacherLayersFor(dims.layers, teacherSpec.layers);
    const teacher = await Checkpoint.open(src, TEACHER_DIR);
    tensors = {};
    for (const [name, from] of teacherLayerSources(studentSpec, teacherSpec, layers)) {
      const t = await teacher.read(from);
      tensors[name] = { dtype: 'F32', shape: [...t.shape], data: await teacher.float32(from) };
    }
  }
  const bytes = writeSafetensors(tensors);
  await writeFile(join(STUDENT_DIR, 'model.safetensors'), bytes);
  await writeFile(
    join(STUDENT_DIR, 'README.md'),
    cardOfStudent({ init, dims, params: demoParams(dims), teacherParams: demoParams(TEACHER_DIMS), bytes: bytes.byteLength, layers, seed: STUDENT_SEED }),
  );
  console.log(`student (${init}): ${demoParams(dims).toLocaleString('en-US')} parameters, ${bytes.byteLength} bytes → ${STUDENT_DIR}`);
}

import { mkdir, rename, rm, writeFile, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseCommand } from './args.ts';
import { openModel } from './open-model.ts';
import { NodeFileSource } from './node-files.ts';
import { nodeRuntime } from './dawn.ts';
import { parseJobSpec } from '../core/schema/index.ts';
import { checkTeacherStudentTokenizers, checkVocabCompatibility } from '../core/tokenizer.ts';
import { runDistill } from '../engine/train/trainer.ts';
import type { TelemetryEventBody } from '../core/telemetry.ts';
import { codeVersion } from '../runner/version.ts';

const HELP = `usage: retort distill --config FILE.json [--out DIR] [--json]

Runs a distillation job (the same JSON the playground and the runner take) on the engine in Node.
Checkpoints go to DIR/checkpoints/step-N/ in Hugging Face layout (default DIR: runs/<config name>).
  --json   print telemetry events as JSON lines instead of a progress display`;

export async function distillCommand(argv: string[]): Promise<number> {
  const o = parseCommand('distill', argv, { config: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } }, HELP);
  if (!o) return 0;
  if (!o.config) throw new Error(`--config is required\n\n${HELP}`);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(o.config, 'utf8'));
  } catch (e) {
    throw new Error(`${o.config}: ${(e as Error).message}`);
  }
  const spec = parseJobSpec(json, o.config);
  if (spec.kind !== 'distill') throw new Error(`${o.config}: kind is "${spec.kind}"; retort distill runs "distill" jobs`);
  // Paths in the config are relative to the config file's folder.
  const base = dirname(resolve(o.config));
  const files = new NodeFileSource(base);
  const rt = await nodeRuntime();
  const student = await openModel(files.resolve(spec.student.path), { needTokenizer: true, rt });
  const teacher = spec.teacher ? await openModel(files.resolve(spec.teacher.path), { needTokenizer: true, rt, dtype: spec.teacher.dtype === 'f32' ? 'f32' : (spec.teacher.dtype ?? 'f32') }) : null;
  const tokenizer = student.tokenizer!;
  if (teacher) checkTeacherStudentTokenizers(teacher.tokenizer!, tokenizer);
  const { logitVocab } = checkVocabCompatibility(tokenizer, student.model.spec, spec.student.path);
  const outDir = resolve(o.out ?? spec.output?.dir ?? join('runs', o.config.replace(/.*\//, '').replace(/\.json$/, '')));
  await mkdir(join(outDir, 'checkpoints'), { recursive: true });
  await writeFile(join(outDir, 'spec.json'), JSON.stringify(spec, null, 2));

  const total = spec.stages.reduce((n, s) => n + s.stop.steps, 0);
  const t0 = Date.now();
  const emit = (e: TelemetryEventBody) => {
    if (o.json) return console.log(JSON.stringify(e));
    if (e.type === 'step') {
      const eta = (((Date.now() - t0) / (e.step + 1)) * (total - e.step - 1)) / 1000;
      console.log(`step ${String(e.step).padStart(5)}/${total}  loss ${e.loss.toFixed(4)}  soft ${e.metrics.soft.toFixed(4)}  hard ${e.metrics.hard.toFixed(4)}  T ${e.metrics.temperature.toFixed(2)}  lr ${e.metrics.lr.toExponential(2)}  ${e.metrics.tokens_per_s.toFixed(0)} tok/s  ETA ${eta.toFixed(0)} s`);
    } else if (e.type === 'checkpoint') console.log(`checkpoint: ${e.path}`);
    else if (e.type === 'log') console.log(e.message);
    else if (e.type === 'error') console.error(`error: ${e.message}`);
  };
  const result = await runDistill(rt, spec, { student: student.model, teacher: teacher?.model ?? null, tokenizer, logitVocab }, files, {
    emit,
    codeVersion: codeVersion(),
    async saveCheckpoint(step, ckpt) {
      // Written to a temporary folder and renamed: a crash mid-write never leaves a half checkpoint.
      const final = join(outDir, 'checkpoints', `step-${step}`);
      const tmp = join(outDir, 'checkpoints', `.tmp-step-${step}`);
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      for (const [name, bytes] of ckpt) await writeFile(join(tmp, name), bytes);
      for (const name of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
        const src = join(files.resolve(spec.student.path), name);
        try {
          await writeFile(join(tmp, name), await readFile(src));
        } catch {
          /* optional file */
        }
      }
      await rm(final, { recursive: true, force: true });
      await rename(tmp, final);
      return final;
    },
  });
  console.log(`${result.stopped ? 'stopped' : 'finished'} after ${result.steps} steps; checkpoints in ${join(outDir, 'checkpoints')}`);
  return 0;
}

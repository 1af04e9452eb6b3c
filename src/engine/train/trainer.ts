import type { DistillConfig, Stage } from '../../core/schema/index.ts';
import type { TelemetryEventBody } from '../../core/telemetry.ts';
import { lrAt, temperatureAt } from '../../core/schedules.ts';
import type { FileSource } from '../../core/files.ts';
import { loadDataset, collate, type Example } from '../../core/dataset.ts';
import type { Tokenizer } from '../../core/tokenizer.ts';
import { rng } from '../../core/random.ts';
import { preflight } from '../../core/memory.ts';
import type { Runtime } from '../runtime.ts';
import type { Decoder } from '../model/decoder.ts';
import { LoraAdapters } from '../model/lora.ts';
import { DistillStep, type LossSettings } from './distill-step.ts';
import { OnPolicySampler, assertEngineRecipes } from './on-policy.ts';
import { checkpointFiles, type CheckpointFiles } from '../model/save.ts';
import { RUN_MANIFEST_FILE, buildRunManifest, runManifestJson } from '../../core/run-manifest.ts';

export interface TrainerHooks {
  emit(event: TelemetryEventBody): void;
  /** Persists a checkpoint; returns where it went. */
  saveCheckpoint?(step: number, files: CheckpointFiles): Promise<string>;
  /** Polled between steps: 'stop' ends the run after a checkpoint; 'pause' waits. */
  control?(): 'run' | 'pause' | 'stop';
  /** GPU memory the job may use (WebGPU does not report it); default 4 GiB, a laptop GPU's share. */
  memoryBudgetBytes?: number;
  /** Written into each checkpoint's run manifest (package version + git commit when known). */
  codeVersion?: string;
}

const CHUNK_TOKENS = 64;

/**
 * The distillation recipe on the engine: stages in order, each with its data, loss and stop rule;
 * AdamW with warm-up and decay over all stages' steps; telemetry per step; checkpoints every N steps.
 */
export async function runDistill(
  rt: Runtime,
  config: DistillConfig,
  models: { student: Decoder; teacher: Decoder | null; tokenizer: Tokenizer; logitVocab: number },
  files: FileSource,
  hooks: TrainerHooks,
): Promise<{ steps: number; stopped: boolean }> {
  const { student, teacher, tokenizer, logitVocab } = models;
  // the torch worker's recipes the engine does not train yet: refuse rather than run a different job
  for (const [i, s] of config.stages.entries())
    for (const key of ['rl', 'negatives'] as const)
      if ((key === 'rl' ? s.rl : s.data.negatives) !== undefined)
        throw new Error(`stages.${i}.${key === 'rl' ? 'rl' : 'data.negatives'}: runs on the runner (torch worker) only; the engine does not train it yet`);
  assertEngineRecipes(config.stages, teacher !== null);
  if (config.lora) {
    student.lora = LoraAdapters.create(rt, student.spec, config.lora, config.seed);
  }
  // QAT: the decoder projections train on their quantization grid (src/core/quant.ts); checkpoints keep fp32.
  student.qat = config.qat ?? null;
  // Refuse before allocating anything when the job cannot fit (the message suggests what to change).
  const estimate = preflight(student.spec, teacher?.spec ?? null, {
    batch: config.batch.microBatch,
    seqLen: Math.max(...config.stages.map((s) => s.data.maxSeqLen)),
    loraRank: config.lora?.rank ?? 0,
    loraModules: config.lora?.targetModules.length,
    chunkTokens: CHUNK_TOKENS,
    teacherBytesPerWeight: teacher && teacher.w('model.embed_tokens.weight').dtype !== 'f32' ? 2 : 4,
  }, {
    maxBufferSize: rt.env.limits.maxBufferSize,
    maxStorageBufferBindingSize: rt.env.limits.maxStorageBufferBindingSize,
    budgetBytes: hooks.memoryBudgetBytes ?? 4 * 2 ** 30,
  });
  hooks.emit({ type: 'log', level: 'info', message: `GPU memory estimate: ${(estimate.total / 2 ** 20).toFixed(0)} MiB` });
  const params = student.lora ? student.lora.parameters() : [...student.weights.values()];
  const o = config.optimizer;
  const step = new DistillStep(rt, student, teacher, params, logitVocab, {
    beta1: o.betas[0], beta2: o.betas[1], eps: o.eps, weightDecay: o.weightDecay, maxGradNorm: o.gradClip,
  }, CHUNK_TOKENS);
  const totalSteps = config.stages.reduce((n: number, s: Stage) => n + s.stop.steps, 0);
  let global = 0;
  let bad = 0;
  let stopped = false;
  let stageIndex = 0;
  const dataHashes: Record<string, string> = {}; // for the run manifest, by stage as the torch worker keys them
  const rand = rng(config.seed);
  hooks.emit({ type: 'state', state: 'running' });
  try {
    for (const [si, stage] of config.stages.entries()) {
      const data = await loadDataset(files, tokenizer, {
        path: stage.data.path, format: stage.data.format, useChatTemplate: stage.data.chatTemplate,
        maxSeqLen: stage.data.maxSeqLen, truncation: stage.data.truncation, packing: stage.data.packing,
      });
      stageIndex = si;
      dataHashes[`stage-${si}`] = data.hash;
      if (data.examples.length === 0) throw new Error(`${stage.data.path}: no trainable examples (stage "${stage.name}")`);
      hooks.emit({ type: 'log', level: 'info', message: `stage ${si + 1}/${config.stages.length} "${stage.name}": ${data.examples.length} examples from ${stage.data.path} (hash ${data.hash})` });
      const order = shuffled(data.examples.length, rand);
      let cursor = 0;
      const onPolicy = stage.loss.onPolicy;
      const sampler = onPolicy ? new OnPolicySampler(onPolicy, config.seed, tokenizer.eosIds, stage.data.maxSeqLen, logitVocab) : null;
      const nextBatch = (): Example[] => {
        const out: Example[] = [];
        for (let i = 0; i < config.batch.microBatch; i++) {
          if (cursor === order.length) cursor = 0;
          out.push(data.examples[order[cursor++]]);
        }
        return out;
      };
      for (let s = 0; s < stage.stop.steps; s++) {
        let ctl = hooks.control?.() ?? 'run';
        if (ctl === 'pause') {
          hooks.emit({ type: 'state', state: 'paused' });
          while (ctl === 'pause') {
            await new Promise((r) => setTimeout(r, 100));
            ctl = hooks.control?.() ?? 'run';
          }
          if (ctl === 'run') hooks.emit({ type: 'state', state: 'running' });
        }
        if (ctl === 'stop') {
          stopped = true;
          break;
        }
        const t0 = performance.now();
        const temperature = temperatureAt(stage.loss.temperature, s, stage.stop.steps);
        const loss = lossSettings(stage, temperature, teacher !== null);
        const picked = Array.from({ length: config.batch.gradAccumulation }, () => nextBatch());
        // GKD: picked micro-batches train on continuations sampled from their prompts (on-policy.ts)
        const sampled = picked.map((_, j) => sampler?.chosen(global, j) ?? false);
        for (const [j, rows] of picked.entries())
          if (sampled[j]) picked[j] = await sampler!.sample(onPolicy?.source === 'teacher' ? teacher! : student, rows, global, j);
        const micros = picked.map((rows) => collate(rows, { padId: tokenizer.padId ?? 0 }));
        const count = micros.reduce((n, b) => n + b.labels.filter((l) => l >= 0).length, 0);
        // The student's own samples have no reference: only the divergence to the teacher trains on them.
        const ownSamples = { ...loss, alpha: 1 };
        for (const [j, b] of micros.entries())
          step.micro({ ids: b.ids, labels: b.labels, B: b.size, T: b.seqLen }, sampled[j] && onPolicy?.source === 'student' ? ownSamples : loss, Math.max(1, count));
        // A stage's lr replaces the optimizer's peak rate for that stage (same rule as the torch worker).
        const lr = lrAt({ ...o, lr: stage.lr ?? o.lr }, global, totalSteps);
        const st = await step.apply(lr);
        const at = global++; // events count steps from 0 (telemetry.ts)
        const seconds = (performance.now() - t0) / 1000;
        if (st.skipped || !Number.isFinite(st.loss)) {
          bad++;
          hooks.emit({ type: 'error', message: `step ${at}: non-finite loss or gradient (loss ${st.loss}); update skipped, weights unchanged`, where: `stage ${stage.name}`, recoverable: bad < config.maxBadSteps });
          if (bad >= config.maxBadSteps) throw new Error(`stopped after ${bad} consecutive non-finite steps; the last good weights are kept`);
          continue;
        }
        bad = 0;
        hooks.emit({
          type: 'step', step: at, stage: si, loss: st.loss,
          metrics: {
            soft: st.soft, hard: st.hard, temperature, lr, grad_norm: st.gradNorm, tokens_per_s: st.tokens / seconds,
            ...(sampler ? { on_policy: sampled.filter(Boolean).length / picked.length } : {}),
          },
        });
        if (hooks.saveCheckpoint && config.checkpoint.everySteps > 0 && global % config.checkpoint.everySteps === 0) {
          await checkpoint(global);
        }
      }
      if (stopped) break;
    }
    if (hooks.saveCheckpoint) await checkpoint(global);
    hooks.emit({ type: 'state', state: stopped ? 'stopped' : 'finished' });
    return { steps: global, stopped };
  } finally {
    step.dispose();
  }

  async function checkpoint(at: number): Promise<void> {
    const manifest = buildRunManifest({
      spec: config, seed: config.seed, data: { ...dataHashes }, code_version: hooks.codeVersion ?? 'retort engine', step: at, stage: stageIndex,
      trainer: { engine: 'webgpu', runtime: `WebGPU ${rt.env.adapter}`, world_size: 1 },
    });
    const filesOut = await checkpointFiles(student, { [RUN_MANIFEST_FILE]: runManifestJson(manifest) });
    const path = await hooks.saveCheckpoint!(at, filesOut);
    hooks.emit({ type: 'checkpoint', step: at, path });
  }
}

function lossSettings(stage: Stage, temperature: number, haveTeacher: boolean): LossSettings {
  const l = stage.loss;
  const soft = haveTeacher && l.divergence !== 'none' && l.teacherTargets === 'online';
  return {
    divergence: soft ? l.divergence : 'none',
    alpha: soft ? l.alpha : 0,
    temperature,
    beta: l.beta,
    lambda: l.lambda,
  } as LossSettings;
}

function shuffled(n: number, rand: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

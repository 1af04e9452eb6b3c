/**
 * The run manifest: what a distill checkpoint folder says about the run that wrote it (DESIGN.md:
 * "resolved spec, seed, data hash, code version, trainer state"). One file name and one set of fields
 * for both trainers: the engine (src/engine/train/trainer.ts) and the torch worker, whose mirror is
 * src/runner/torch/retort_torch/run_manifest.py — change both together.
 *
 * Keys are snake_case like the rest of what lands beside HF weights (config.json, telemetry metrics).
 */
import { z } from 'zod';
import { DistillConfigSchema } from './schema/distill.ts';
import { parseConfigText } from './schema/config-error.ts';

export const RUN_MANIFEST_FILE = 'run_manifest.json';
/** The torch worker's name for it before both trainers shared one format; read, never written. */
export const LEGACY_RUN_MANIFEST_FILE = 'manifest.json';
export const RUN_MANIFEST_FORMAT = 'retort-run-manifest/1';

export const RunManifestSchema = z
  .object({
    format: z.literal(RUN_MANIFEST_FORMAT),
    spec: DistillConfigSchema.describe('the resolved distill spec the run trained with'),
    seed: z.int(),
    data: z
      .record(z.string(), z.string().regex(/^[a-z0-9]+:[0-9a-f]+$/, 'expected "<algorithm>:<hex digest>"'))
      .describe('content hash of each stage\'s training data, keyed "stage-<index>"'),
    code_version: z.string().min(1),
    step: z.int().nonnegative().describe('optimizer steps taken: the index of the step a resumed run takes next'),
    stage: z.int().nonnegative().describe('index into spec.stages, as in telemetry'),
    stage_name: z.string(),
    time: z.int().nonnegative().describe('when it was written, ms since the epoch'),
    trainer: z
      .object({
        engine: z.enum(['webgpu', 'torch']),
        runtime: z.string().describe('what ran it: "torch <version>", or "WebGPU <adapter>" on the engine'),
        world_size: z.int().positive().describe('processes that trained together (torchrun); 1 on the engine'),
      })
      .strict(),
  })
  .strict();
export type RunManifest = z.infer<typeof RunManifestSchema>;

/** Everything but the format tag and the time, which the builder fills in. */
export type RunManifestFields = Omit<RunManifest, 'format' | 'time' | 'stage_name'> & { time?: number };

/** A manifest for a checkpoint taken now; `stage_name` is read from the spec so the two cannot disagree. */
export function buildRunManifest(fields: RunManifestFields): RunManifest {
  const stage = fields.spec.stages[fields.stage];
  if (!stage) throw new Error(`run manifest: stage ${fields.stage} is not in spec.stages (${fields.spec.stages.length} stages)`);
  return { format: RUN_MANIFEST_FORMAT, ...fields, stage_name: stage.name, time: fields.time ?? Date.now() };
}

export function runManifestJson(manifest: RunManifest): string {
  return JSON.stringify(manifest, null, 2);
}

/** Validate a manifest file's text; throws a ConfigError naming `source` and each failing field. */
export function parseRunManifest(text: string, source = RUN_MANIFEST_FILE): RunManifest {
  return parseConfigText(RunManifestSchema, text, source);
}

/**
 * The embedded demo as the playground opens it: the demo teacher and student served with the page
 * (public/ → the app's origin), the arithmetic data beside them, and a logit-KD job sized for a
 * browser tab. Paths are relative to the page's base URL, which is where the engine worker's HTTP
 * file source reads (workers/engine.worker.ts `setBase`).
 */
import type { DistillSession, ModelInfo } from '../session.ts';
import type { JobSpec } from '../schema/index.ts';
import { parseJobSpec } from '../schema/index.ts';

export const DEMO_TEACHER = 'models/demo-teacher';
export const DEMO_STUDENT = 'models/demo-student';
export const DEMO_DATA = { train: 'data/arith/train.jsonl', val: 'data/arith/val.jsonl', test: 'data/arith/test.jsonl' } as const;

/** Loads both demo models into a session (the local engine, or a runner serving the same folders). */
export function loadDemoModels(session: Pick<DistillSession, 'load'>): Promise<ModelInfo[]> {
  return session.load({ teacher: { path: DEMO_TEACHER }, student: { path: DEMO_STUDENT } });
}

export interface DemoJobOptions {
  steps?: number;
  /** Sequences per step. */
  microBatch?: number;
  /** Tokens per sequence: shorter rows are cheaper on a slow adapter (a record is at most 127). */
  maxSeqLen?: number;
  lr?: number;
  seed?: number;
}

/**
 * The playground's default job: logit KD (forward KL at T = 2, α = 0.7) from the demo teacher into
 * the demo student on the arithmetic train split — examples/demo-kd.json at a tab's budget.
 */
export function demoDistillSpec(o: DemoJobOptions = {}): JobSpec {
  const steps = o.steps ?? 200;
  return parseJobSpec(
    {
      kind: 'distill',
      teacher: { path: DEMO_TEACHER },
      student: { path: DEMO_STUDENT },
      seed: o.seed ?? 1,
      batch: { microBatch: o.microBatch ?? 8, gradAccumulation: 1 },
      optimizer: { lr: o.lr ?? 3e-3, schedule: { kind: 'cosine', warmupSteps: Math.min(5, Math.floor(steps / 10)), minLrRatio: 0.1 }, gradClip: 1 },
      stages: [
        {
          name: 'logit-kd',
          data: { path: DEMO_DATA.train, format: 'chat', maxSeqLen: o.maxSeqLen ?? 128 },
          loss: { divergence: 'forward-kl', alpha: 0.7, temperature: { kind: 'constant', value: 2 } },
          stop: { steps },
        },
      ],
      checkpoint: { everySteps: steps, keepLast: 1 },
    },
    'the demo job',
  );
}

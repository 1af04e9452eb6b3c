/**
 * Learning-rate and temperature schedules as pure functions of the step, shared by the engine and
 * (mirrored) by the torch worker. Steps are 0-based; the last step (totalSteps − 1) lands exactly
 * on the schedule's end value.
 */
import type { LrSchedule } from './schema/optimizer.ts';
import type { TemperatureSchedule } from './schema/temperature.ts';

/**
 * Learning rate at `step` of `totalSteps`: linear warm-up lr·(step + 1)/warmupSteps (so step 0
 * already trains), then constant, linear or cosine decay from lr to minLrRatio·lr at the last step.
 */
export function lrAt(cfg: { lr: number; schedule: LrSchedule }, step: number, totalSteps: number): number {
  checkStep(step, totalSteps);
  const { lr, schedule } = cfg;
  const W = schedule.warmupSteps;
  if (step < W) return (lr * (step + 1)) / W;
  const floor = schedule.minLrRatio * lr;
  const progress = ramp(step - W, totalSteps - W);
  switch (schedule.kind) {
    case 'constant':
      return lr;
    case 'linear':
      return lr + (floor - lr) * progress;
    case 'cosine':
      return floor + (lr - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  }
}

/** Distillation temperature at `step` of a stage with `totalSteps` steps. */
export function temperatureAt(sched: TemperatureSchedule, step: number, totalSteps: number): number {
  checkStep(step, totalSteps);
  if (sched.kind === 'constant') return sched.value;
  const progress = ramp(step, totalSteps);
  if (sched.kind === 'linear') return sched.from + (sched.to - sched.from) * progress;
  return sched.to + (sched.from - sched.to) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

/** The part of a Stage the step arithmetic needs. */
export interface StageSteps {
  stop: { steps: number };
}

/** Optimizer steps of a whole multi-stage job: the lr schedule spans all stages. */
export function totalSteps(stages: readonly StageSteps[]): number {
  return stages.reduce((sum, s) => sum + s.stop.steps, 0);
}

/** Where a job-level step falls: which stage, and the step within it. Past the end → the last stage's last step. */
export function stageAt(stages: readonly StageSteps[], step: number): { stage: number; step: number } {
  let start = 0;
  for (let i = 0; i < stages.length; i++) {
    const n = stages[i].stop.steps;
    if (step < start + n) return { stage: i, step: step - start };
    start += n;
  }
  const last = stages.length - 1;
  return { stage: last, step: stages[last].stop.steps - 1 };
}

/** 0 at the first of n steps, 1 at the last, clamped beyond. */
function ramp(step: number, n: number): number {
  return n <= 1 ? 1 : Math.min(1, step / (n - 1));
}

function checkStep(step: number, totalSteps: number): void {
  if (!Number.isInteger(step) || step < 0) throw new Error(`schedule: step ${step} must be an integer ≥ 0`);
  if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new Error(`schedule: totalSteps ${totalSteps} must be an integer ≥ 1`);
}

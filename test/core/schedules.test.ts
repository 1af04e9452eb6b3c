import { describe, expect, it } from 'vitest';
import { lrAt, stageAt, temperatureAt, totalSteps } from '../../src/core/schedules.ts';
import type { LrSchedule } from '../../src/core/schema/optimizer.ts';

const lr = (kind: LrSchedule['kind'], warmupSteps: number, minLrRatio: number, peak = 1e-3) => ({
  lr: peak,
  schedule: { kind, warmupSteps, minLrRatio },
});

let worst = 0;
function close(actual: number, expected: number): void {
  const d = Math.abs(actual - expected) / (Math.abs(expected) || 1); // absolute at 0
  worst = Math.max(worst, d);
  expect(d, `${actual} vs ${expected}`).toBeLessThan(1e-14);
}

describe('lrAt', () => {
  it('warms up linearly, (step + 1) / warmupSteps of the peak', () => {
    const cfg = lr('cosine', 10, 0.1);
    close(lrAt(cfg, 0, 111), 1e-4);
    close(lrAt(cfg, 4, 111), 5e-4);
    close(lrAt(cfg, 9, 111), 1e-3);
  });

  it('decays along a cosine to minLrRatio · lr at the last step', () => {
    const cfg = lr('cosine', 10, 0.1);
    close(lrAt(cfg, 10, 111), 1e-3); // progress 0
    // progress 0.25 (step 35 of the 101 post-warm-up steps): 1e-4 + 9e-4 · ½(1 + cos(π/4))
    close(lrAt(cfg, 35, 111), 1e-4 + 9e-4 * 0.5 * (1 + Math.SQRT1_2));
    close(lrAt(cfg, 60, 111), 5.5e-4); // progress 0.5: half way
    close(lrAt(cfg, 110, 111), 1e-4); // last step
    close(lrAt(cfg, 500, 111), 1e-4); // clamped past the end
  });

  it('decays linearly and stays constant', () => {
    const steps = [0, 1, 2, 3, 4].map((s) => lrAt(lr('linear', 0, 0, 1), s, 5));
    steps.forEach((v, i) => close(v, [1, 0.75, 0.5, 0.25, 0][i]));
    close(lrAt(lr('linear', 0, 0.5, 2), 2, 5), 1.5); // half way from 2 to 1
    for (const s of [3, 50, 99]) close(lrAt(lr('constant', 3, 0.1), s, 100), 1e-3);
  });

  it('refuses bad steps', () => {
    expect(() => lrAt(lr('constant', 0, 0), -1, 10)).toThrow('schedule: step -1 must be an integer ≥ 0');
    expect(() => lrAt(lr('constant', 0, 0), 0, 0)).toThrow('schedule: totalSteps 0 must be an integer ≥ 1');
  });
});

describe('temperatureAt', () => {
  it('is constant, linear from → to, or cosine from → to over the stage', () => {
    for (const s of [0, 7, 99]) close(temperatureAt({ kind: 'constant', value: 2 }, s, 100), 2);
    [5, 4, 3, 2, 1].forEach((T, s) => close(temperatureAt({ kind: 'linear', from: 5, to: 1 }, s, 5), T));
    close(temperatureAt({ kind: 'cosine', from: 4, to: 1 }, 0, 3), 4);
    close(temperatureAt({ kind: 'cosine', from: 4, to: 1 }, 1, 3), 2.5);
    close(temperatureAt({ kind: 'cosine', from: 4, to: 1 }, 2, 3), 1);
    // quarter way: 1 + 3 · ½(1 + cos(π/4))
    close(temperatureAt({ kind: 'cosine', from: 4, to: 1 }, 1, 5), 1 + 1.5 * (1 + Math.SQRT1_2));
    console.log(`schedules: worst relative difference ${worst.toExponential(2)}`);
  });
});

describe('multi-stage steps', () => {
  const stages = [{ stop: { steps: 3 } }, { stop: { steps: 2 } }];
  it('counts and locates steps across stages', () => {
    expect(totalSteps(stages)).toBe(5);
    expect([0, 2, 3, 4, 9].map((s) => stageAt(stages, s))).toEqual([
      { stage: 0, step: 0 },
      { stage: 0, step: 2 },
      { stage: 1, step: 0 },
      { stage: 1, step: 1 },
      { stage: 1, step: 1 },
    ]);
  });
});

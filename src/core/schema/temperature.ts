import { z } from 'zod';

const temperature = (what: string) =>
  z.number().gt(0).max(100).describe(`${what} softmax temperature (unitless, > 0)`);

/** Distillation temperature over one stage's steps; see schedules.ts for the curves. */
export const TemperatureScheduleSchema = z
  .discriminatedUnion('kind', [
    z
      .strictObject({
        kind: z.literal('constant').describe('same temperature at every step'),
        value: temperature('the').default(1),
      })
      .describe('constant temperature'),
    z
      .strictObject({
        kind: z.literal('linear').describe('straight line from → to over the stage'),
        from: temperature('first-step'),
        to: temperature('last-step'),
      })
      .describe('linear temperature ramp'),
    z
      .strictObject({
        kind: z.literal('cosine').describe('half-cosine from → to over the stage'),
        from: temperature('first-step'),
        to: temperature('last-step'),
      })
      .describe('cosine temperature ramp'),
  ])
  .describe('temperature schedule over the stage (T² scales every soft term)');
export type TemperatureSchedule = z.infer<typeof TemperatureScheduleSchema>;

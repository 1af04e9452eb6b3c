import { describe, expect, it } from 'vitest';
import {
  isTerminalState,
  JOB_STATES,
  METRICS,
  parseTelemetryEvent,
  stampEvent,
  type TelemetryEventBody,
  type TelemetryEventType,
} from '../../src/core/telemetry.ts';

const envelope = { job: 'j1', seq: 7, time: 1_700_000_000_000 };

// One valid body per event type: the record type makes a new event type break this test until it has one.
const bodies: { [K in TelemetryEventType]: Extract<TelemetryEventBody, { type: K }> } = {
  step: { type: 'step', step: 3, stage: 0, loss: 1.25, metrics: { soft: 2, hard: 0.5, lr: 1e-5, grad_norm: 0.7 } },
  eval: { type: 'eval', step: 10, stage: 1, metrics: { accuracy: 0.5, eval_loss: 1.1 } },
  sample: { type: 'sample', step: 10, prompt: '1+1?', output: '</think> \\boxed{2}', source: 'student', correct: true },
  checkpoint: { type: 'checkpoint', step: 500, path: 'jobs/j1/checkpoints/step-500', bytes: 1234 },
  log: { type: 'log', level: 'info', message: 'loaded teacher' },
  error: { type: 'error', message: 'NaN loss', where: 'step 12', recoverable: false },
  state: { type: 'state', state: 'running' },
  progress: { type: 'progress', done: 3, total: 10, what: 'prompts' },
};

describe('TelemetryEvent', () => {
  it.each(Object.values(bodies))('round-trips a $type event through JSON', (body) => {
    const event = stampEvent(body, envelope.job, envelope.seq, envelope.time);
    expect(parseTelemetryEvent(JSON.parse(JSON.stringify(event)))).toEqual({ ...body, ...envelope });
  });

  it('names the source and field of a bad event', () => {
    const bad = { ...envelope, type: 'step', step: -1, stage: 0, loss: 1, metrics: { soft: 'x' } };
    expect(() => parseTelemetryEvent(bad, 'torch worker line 4')).toThrow(
      'torch worker line 4: step: must be ≥ 0\ntorch worker line 4: metrics.soft: expected number, got string',
    );
    expect(() => parseTelemetryEvent({ ...envelope, type: 'metric' }, 'sse')).toThrow(
      "sse: type: must be one of 'step', 'eval', 'sample', 'checkpoint', 'log', 'error', 'state', 'progress' (got 'metric')",
    );
    expect(() => parseTelemetryEvent({ ...bodies.state, time: 1 }, 'sse')).toThrow('sse: job: is required\nsse: seq: is required');
  });

  it('refuses a non-finite loss (the trainer reports it as an error event instead)', () => {
    expect(() => parseTelemetryEvent({ ...envelope, ...bodies.step, loss: Infinity })).toThrow(/loss/);
    expect(() => parseTelemetryEvent({ ...envelope, ...bodies.step, loss: NaN })).toThrow(/loss/);
  });

  it('knows which states are terminal', () => {
    expect(JOB_STATES.filter(isTerminalState)).toEqual(['stopped', 'finished', 'failed']);
  });

  it('documents the conventional metric names', () => {
    for (const name of ['soft', 'hard', 'temperature', 'lr', 'grad_norm', 'tokens_per_s', 'reward', 'kl'])
      expect(METRICS).toHaveProperty(name);
  });
});

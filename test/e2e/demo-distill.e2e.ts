import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { openPage, SCREENSHOTS, type Session } from './browser.ts';
import { DEMO_STUDENT, DEMO_TEACHER, demoDistillSpec } from '../../src/core/demo/playground.ts';
import { loadTokenizer, type ChatMessage } from '../../src/core/tokenizer.ts';
import { NodeFileSource } from '../../src/node/files.ts';
import type { ModelInfo, ProbeRequest, ProbeResult } from '../../src/core/session.ts';
import type { JobSpec } from '../../src/core/schema/index.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';

/** The engine worker's API as harness.html exposes it (window.engine, comlink). */
interface HarnessWindow {
  engine: {
    load(req: object): Promise<ModelInfo[]>;
    probe(req: ProbeRequest): Promise<ProbeResult>;
    start(spec: JobSpec): Promise<string>;
  };
  jobEvents(job: string): Promise<TelemetryEvent[]>;
}

const VAL_SAMPLES = 4;
const STEPS = 6;

/**
 * Validation conversations as ids, and where the assistant's answer starts: KL is averaged over
 * the positions that predict the answer's tokens, the ones distillation trains.
 */
async function valSamples(): Promise<{ ids: number[]; from: number }[]> {
  const tok = await loadTokenizer(new NodeFileSource('public'), DEMO_STUDENT);
  const lines = readFileSync('public/data/arith/val.jsonl', 'utf8').split('\n').slice(0, VAL_SAMPLES);
  return lines.map((line) => {
    const { messages } = JSON.parse(line) as { messages: ChatMessage[] };
    const prompt = tok.applyChatTemplate(messages.slice(0, -1), { addGenerationPrompt: true }).ids;
    const ids = tok.applyChatTemplate(messages).ids;
    expect(ids.slice(0, prompt.length)).toEqual(prompt);
    return { ids, from: prompt.length - 1 };
  });
}

describe('the demo distils in the browser worker (Chromium, WebGPU)', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openPage('/harness.html');
  });
  afterAll(async () => s?.close());

  it(`brings the demo student closer to the teacher on val samples in ${STEPS} KD steps`, async () => {
    const samples = await valSamples();
    const models = await s.page.evaluate(
      ([teacher, student]) => (window as unknown as HarnessWindow).engine.load({ teacher: { path: teacher }, student: { path: student } }),
      [DEMO_TEACHER, DEMO_STUDENT],
    );
    expect(models.map((m) => [m.role, m.layers])).toEqual([['teacher', 6], ['student', 1]]);

    /** Mean KL(teacher ‖ student) at T = 1 over the answer tokens of the val samples. */
    const valKl = () =>
      s.page.evaluate(async (samples) => {
        let sum = 0;
        let count = 0;
        for (const { ids, from } of samples) {
          const kl = (await (window as unknown as HarnessWindow).engine.probe({ ids })).perToken.kl.slice(from);
          sum += kl.reduce((a, b) => a + b, 0);
          count += kl.length;
        }
        return sum / count;
      }, samples);

    const before = await valKl();
    const spec = demoDistillSpec({ steps: STEPS, microBatch: 2, maxSeqLen: 128, lr: 3e-3 });
    const t0 = Date.now();
    const run = await s.page.evaluate(async (spec) => {
      const w = window as unknown as HarnessWindow;
      return w.jobEvents(await w.engine.start(spec));
    }, spec);
    const after = await valKl();
    const losses = run.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
    const errors = run.flatMap((e) => (e.type === 'error' ? [e.message] : []));
    console.log(`val KL(teacher ‖ student) ${before.toFixed(4)} → ${after.toFixed(4)} nats after ${losses.length} steps in ${((Date.now() - t0) / 1000).toFixed(0)} s; loss ${losses[0]?.toFixed(3)} → ${losses.at(-1)?.toFixed(3)}`);
    expect(errors).toEqual([]);
    expect(run.flatMap((e) => (e.type === 'state' ? [e.state] : [])).at(-1)).toBe('finished');
    expect(losses).toHaveLength(STEPS);
    // The untrained student is far from the teacher (it runs the teacher's head on its first layer's
    // output); a few steps close a good part of the gap on held-out conversations.
    expect(after).toBeLessThan(0.8 * before);
    await s.page.screenshot({ path: `${SCREENSHOTS}/demo-distill.png` });
    expect(s.consoleErrors).toEqual([]);
  });
});
